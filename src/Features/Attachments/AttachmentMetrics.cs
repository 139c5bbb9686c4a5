using System.Diagnostics.Metrics;
using TaskRunner.Infrastructure.Observability;

namespace TaskRunner.Features.Attachments;

/// <summary>
/// The attachments' instruments: uploads and their bytes, rejections by reason, the bytes stored and the thumbnail queue
/// (both gauges refreshed by the thumbnail worker's polls, so a scrape never queries the database), thumbnail durations.
/// </summary>
public sealed class AttachmentMetrics
{
    private readonly Counter<long> uploads;
    private readonly Counter<long> uploadedBytes;
    private readonly Counter<long> rejected;
    private readonly Counter<long> thumbnails;
    private readonly Histogram<double> thumbnailDuration;
    private long storedBytes;
    private long queueDepth;

    public AttachmentMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(Telemetry.ServiceName);
        uploads = meter.CreateCounter<long>("taskrunner.attachments.uploads", "{upload}", "Attachments uploaded and recorded");
        uploadedBytes = meter.CreateCounter<long>("taskrunner.attachments.uploaded", "By", "Bytes of the attachments uploaded");
        rejected = meter.CreateCounter<long>("taskrunner.attachments.rejected", "{upload}",
            "Uploads refused, by reason (too_large, quota, type, type_mismatch, empty, malformed, aborted)");
        thumbnails = meter.CreateCounter<long>("taskrunner.thumbnails.jobs", "{job}", "Thumbnail jobs ended, by outcome (ready, failed, retried)");
        thumbnailDuration = meter.CreateHistogram<double>("taskrunner.thumbnails.duration", "s", "Time to make one thumbnail, by outcome",
            tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] });
        meter.CreateObservableGauge("taskrunner.attachments.stored", () => Interlocked.Read(ref storedBytes), "By",
            "Bytes of the blobs in storage (each content once), as of the last refresh");
        meter.CreateObservableGauge("taskrunner.thumbnails.queue.depth", () => Interlocked.Read(ref queueDepth), "{job}",
            "Thumbnail jobs waiting or running, as of the last refresh");
    }

    public void Uploaded(long bytes)
    {
        uploads.Add(1);
        uploadedBytes.Add(bytes);
    }

    public void Rejected(string reason) => rejected.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void ThumbnailEnded(string outcome, double seconds)
    {
        var tag = new KeyValuePair<string, object?>("outcome", outcome);
        thumbnails.Add(1, tag);
        thumbnailDuration.Record(seconds, tag);
    }

    public void Refreshed(long stored, long depth)
    {
        Interlocked.Exchange(ref storedBytes, stored);
        Interlocked.Exchange(ref queueDepth, depth);
    }
}
