using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using TaskRunner.Features.Tasks;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Observability;

namespace TaskRunner.Features.Execution;

/// <summary>
/// The engine's instruments, recorded after the transaction that made the change committed (a rolled-back claim started
/// nothing). Tagged by task kind: kinds are a format-checked vocabulary, but chosen by clients, so the label is bounded
/// (<see cref="MetricsOptions.MaxLabelValues"/>; later kinds are reported as <c>other</c>).
/// </summary>
public sealed class EngineMetrics
{
    private readonly TimeProvider clock;
    private readonly BoundedLabel kinds;
    private readonly Counter<long> started;
    private readonly Counter<long> finished;
    private readonly Counter<long> retried;
    private readonly Counter<long> propagated;
    private readonly Counter<long> dispatches;
    private readonly Counter<long> sweeperRuns;
    private readonly Counter<long> swept;
    private readonly Counter<long> walkBatches;
    private readonly Counter<long> walkRows;
    private readonly Counter<long> walksResumed;
    private readonly Histogram<double> claimDuration;
    private readonly Histogram<double> readyToStarted;
    private readonly Lock depthGate = new();
    private (long Push, long Pull, DateTimeOffset Until)? readyDepth;

    /// <summary>
    /// Boundaries in seconds from 1 ms to a minute: the exporter's defaults (0, 5, 10 … 10,000) suit milliseconds and would
    /// put every start and claim into the first bucket.
    /// </summary>
    private static readonly InstrumentAdvice<double> SecondsBuckets = new()
    {
        HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    };

    public EngineMetrics(IMeterFactory meters, TimeProvider clock, IOptions<MetricsOptions> options)
    {
        this.clock = clock;
        kinds = new BoundedLabel(options.Value.MaxLabelValues);
        var meter = meters.Create(Telemetry.ServiceName);
        started = meter.CreateCounter<long>("taskrunner.tasks.started", "{task}",
            "Tasks started, by kind and how (via=pull: claimed by a worker; via=push: dispatched by the leader)");
        finished = meter.CreateCounter<long>("taskrunner.tasks.finished", "{task}", "Tasks that reached a terminal status, by kind and status");
        retried = meter.CreateCounter<long>("taskrunner.tasks.retried", "{task}",
            "Failed, timed-out or lease-expired attempts sent back to pending for another try");
        propagated = meter.CreateCounter<long>("taskrunner.tasks.propagated", "{task}",
            "Descendants cancelled as upstream_failed, or revived by a retry, through the dependency graph");
        dispatches = meter.CreateCounter<long>("taskrunner.engine.dispatches", "{transaction}",
            "Dispatch transactions of the leader that started at least one task (tasks: taskrunner.tasks.started{via=push})");
        sweeperRuns = meter.CreateCounter<long>("taskrunner.engine.sweeper.runs", "{run}", "Sweeps of the leader over timeouts and expired leases");
        swept = meter.CreateCounter<long>("taskrunner.engine.sweeper.tasks", "{task}",
            "Running tasks the sweeper ended, by reason (timed_out, lease_expired) and outcome (retried, ended)");
        walkBatches = meter.CreateCounter<long>("taskrunner.engine.graph_walk.batches", "{transaction}",
            "Transactions that continued a graph walk too large for one (Engine:GraphWalkBatchSize: failure propagation, retry revival, delete, permanent delete and restore cascades), by who ran them "
            + "(driver=request: the request that started it; driver=sweeper: the leader, after the request's process stopped)");
        walkRows = meter.CreateCounter<long>("taskrunner.engine.graph_walk.rows", "{task}",
            "Tasks those continuing transactions locked (cancelled, released, revived, deleted, removed or restored), by driver");
        walksResumed = meter.CreateCounter<long>("taskrunner.engine.graph_walk.resumed", "{walk}",
            "Graph walks the leader's sweeper took over because the process that started them stopped continuing them");
        claimDuration = meter.CreateHistogram<double>("taskrunner.claim.duration", "s", "Time of one claim transaction (without long-poll waiting)",
            tags: null, advice: SecondsBuckets);
        readyToStarted = meter.CreateHistogram<double>("taskrunner.tasks.ready_to_started", "s",
            "From the moment a task became ready (created, scheduled time, or last parent ended) to its start",
            tags: null, advice: SecondsBuckets);
        meter.CreateObservableGauge("taskrunner.engine.ready_queue.depth", ObserveReadyDepth, "{task}",
            "Tasks ready to start now, by how they start (via=push|pull); reported by the leader only, refreshed by each sweep");
    }

    public void Started(string kind, double secondsSinceReady, string via)
    {
        var kindTag = new KeyValuePair<string, object?>("kind", kinds.Of(kind));
        started.Add(1, kindTag, new KeyValuePair<string, object?>("via", via));
        readyToStarted.Record(Math.Max(0, secondsSinceReady), kindTag);
    }

    /// <summary>What <see cref="Lifecycle.EndAsync"/> did: tasks finished or retried, descendants cancelled.</summary>
    internal void Ended(Lifecycle.Ending ending)
    {
        foreach (var task in ending.Ended)
        {
            if (task.Status == TaskRules.Pending)
                retried.Add(1, new KeyValuePair<string, object?>("kind", kinds.Of(task.Kind)));
            else
                Finished(task.Kind, task.Status);
        }
        foreach (var task in ending.Cancelled)
            Finished(task.Kind, TaskRules.Cancelled);
        Propagated("cancelled", ending.Cancelled.Count);
    }

    public void Finished(string kind, string status) =>
        finished.Add(1, new KeyValuePair<string, object?>("kind", kinds.Of(kind)), new KeyValuePair<string, object?>("status", status));

    public void Propagated(string outcome, int count)
    {
        if (count > 0)
            propagated.Add(count, new KeyValuePair<string, object?>("outcome", outcome));
    }

    public void Claimed(TimeSpan duration) => claimDuration.Record(duration.TotalSeconds);

    public void Dispatched() => dispatches.Add(1);

    internal void Swept(string reason, Lifecycle.Ending ending)
    {
        var retriedCount = ending.Ended.Count(task => task.Status == TaskRules.Pending);
        var reasonTag = new KeyValuePair<string, object?>("reason", reason);
        if (retriedCount > 0)
            swept.Add(retriedCount, reasonTag, new KeyValuePair<string, object?>("outcome", "retried"));
        if (ending.Ended.Count > retriedCount)
            swept.Add(ending.Ended.Count - retriedCount, reasonTag, new KeyValuePair<string, object?>("outcome", "ended"));
    }

    public void SweeperRan() => sweeperRuns.Add(1);

    /// <summary>One continuing transaction of a walk; <paramref name="driver"/> is request or sweeper.</summary>
    public void WalkBatch(string driver, int rows)
    {
        var driverTag = new KeyValuePair<string, object?>("driver", driver);
        walkBatches.Add(1, driverTag);
        walkRows.Add(rows, driverTag);
    }

    public void WalkResumed() => walksResumed.Add(1);

    /// <summary>
    /// The ready queue as the leader last counted it, reported until <paramref name="validFor"/> passes: a node that stops
    /// leading stops reporting by itself, so summing the gauge over nodes never counts the queue twice.
    /// </summary>
    public void ReadyQueue(long push, long pull, TimeSpan validFor)
    {
        lock (depthGate)
            readyDepth = (push, pull, clock.GetUtcNow() + validFor);
    }

    private IEnumerable<Measurement<long>> ObserveReadyDepth()
    {
        (long Push, long Pull, DateTimeOffset Until)? depth;
        lock (depthGate)
            depth = readyDepth;
        if (depth is not { } value || value.Until < clock.GetUtcNow())
            return [];
        return
        [
            new Measurement<long>(value.Push, new KeyValuePair<string, object?>("via", "push")),
            new Measurement<long>(value.Pull, new KeyValuePair<string, object?>("via", "pull")),
        ];
    }
}
