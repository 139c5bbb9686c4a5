using System.Diagnostics.Metrics;
using TaskRunner.Infrastructure.Observability;

namespace TaskRunner.Features.Execution;

/// <summary>
/// The engine's instruments, recorded after the transaction that made the change committed (a rolled-back claim started
/// nothing). Tagged by task kind: kinds are a format-checked, operator-chosen vocabulary, not free text per task.
/// </summary>
public sealed class EngineMetrics
{
    private readonly Counter<long> started;
    private readonly Counter<long> finished;
    private readonly Counter<long> retried;
    private readonly Counter<long> propagated;
    private readonly Histogram<double> claimDuration;
    private readonly Histogram<double> readyToStarted;

    public EngineMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(Telemetry.ServiceName);
        started = meter.CreateCounter<long>("taskrunner.tasks.started", "{task}", "Tasks started (claimed by a pull worker)");
        finished = meter.CreateCounter<long>("taskrunner.tasks.finished", "{task}", "Tasks that reached a terminal status, by kind and status");
        retried = meter.CreateCounter<long>("taskrunner.tasks.retried", "{task}", "Failed attempts sent back to pending for another try");
        propagated = meter.CreateCounter<long>("taskrunner.tasks.propagated", "{task}",
            "Descendants cancelled as upstream_failed, or revived by a retry, through the dependency graph");
        claimDuration = meter.CreateHistogram<double>("taskrunner.claim.duration", "s", "Time of one claim transaction (without long-poll waiting)");
        readyToStarted = meter.CreateHistogram<double>("taskrunner.tasks.ready_to_started", "s",
            "From the moment a task became ready (created, scheduled time, or last parent ended) to its start");
    }

    public void Started(string kind, double secondsSinceReady)
    {
        var tag = new KeyValuePair<string, object?>("kind", kind);
        started.Add(1, tag);
        readyToStarted.Record(Math.Max(0, secondsSinceReady), tag);
    }

    public void Finished(string kind, string status) =>
        finished.Add(1, new KeyValuePair<string, object?>("kind", kind), new KeyValuePair<string, object?>("status", status));

    public void Retried(string kind) => retried.Add(1, new KeyValuePair<string, object?>("kind", kind));

    public void Propagated(string outcome, int count)
    {
        if (count > 0)
            propagated.Add(count, new KeyValuePair<string, object?>("outcome", outcome));
    }

    public void Claimed(TimeSpan duration) => claimDuration.Record(duration.TotalSeconds);
}
