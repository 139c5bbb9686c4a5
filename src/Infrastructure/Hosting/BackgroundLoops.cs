using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Observability;

namespace TaskRunner.Infrastructure.Hosting;

/// <summary>
/// The one way background loops survive a failed iteration: every loop (dispatcher, sweeper, scheduler, delivery, retention,
/// listeners, heartbeat, leader election) runs each iteration through a <see cref="LoopGuard"/> from here, which catches
/// whatever it throws, logs it, counts it (<c>taskrunner.background.failures{service}</c>) and waits an exponential backoff
/// before the loop goes on. So one poison row costs a log line and a wait per iteration, never the host (nor, after it, the
/// next leader).
/// </summary>
public sealed partial class BackgroundFailures
{
    private readonly Counter<long> failures;
    private readonly BackgroundOptions options;
    private readonly TimeProvider clock;
    private readonly ILogger logger;

    public BackgroundFailures(IMeterFactory meters, IOptions<BackgroundOptions> options, TimeProvider clock, ILoggerFactory loggers)
    {
        this.options = options.Value;
        this.clock = clock;
        logger = loggers.CreateLogger("TaskRunner.Background");
        failures = meters.Create(Telemetry.ServiceName).CreateCounter<long>("taskrunner.background.failures", "{failure}",
            "Failed iterations of background loops, by service; each is logged and followed by a backoff");
    }

    /// <summary>A guard for one loop; <paramref name="service"/> names it in logs and in the metric.</summary>
    public LoopGuard For(string service) => new(this, service);

    /// <summary>
    /// The periodic loop: <paramref name="iteration"/> at once (or first after one <paramref name="interval"/> when
    /// <paramref name="firstRunAfterInterval"/>), then every <paramref name="interval"/>, each run guarded as
    /// <paramref name="service"/>, until the host stops, which ends it quietly (what the run in flight did is committed or
    /// rolled back).
    /// </summary>
    public async Task RunPeriodicallyAsync(
        string service, TimeSpan interval, Func<CancellationToken, Task> iteration, CancellationToken stoppingToken,
        bool firstRunAfterInterval = false)
    {
        var guard = For(service);
        using var timer = new PeriodicTimer(interval, clock);
        try
        {
            if (!firstRunAfterInterval)
                await guard.RunAsync(iteration, stoppingToken);
            while (await timer.WaitForNextTickAsync(stoppingToken))
                await guard.RunAsync(iteration, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    internal async Task FailedAsync(string service, Exception failure, int failuresInARow, CancellationToken stoppingToken)
    {
        failures.Add(1, new KeyValuePair<string, object?>("service", service));
        var delay = Backoff(failuresInARow);
        if (IsExpected(failure))
            LogTransientFailure(logger, service, failuresInARow, Math.Round(delay.TotalMilliseconds), failure.Message);
        else
            LogUnexpectedFailure(logger, failure, service, failuresInARow, Math.Round(delay.TotalMilliseconds), failure.Message);
        await Task.Delay(delay, clock, stoppingToken);
    }

    /// <summary>Doubles from the first wait up to the cap, jittered by ±20 % so the nodes of a cluster do not retry in step.</summary>
    private TimeSpan Backoff(int failuresInARow)
    {
        var cap = options.MaxFailureBackoffSeconds * 1000.0;
        var exponential = options.FailureBackoffMilliseconds * Math.Pow(2, Math.Clamp(failuresInARow - 1, 0, 30));
        return TimeSpan.FromMilliseconds(Math.Min(cap, exponential) * (0.8 + Random.Shared.NextDouble() * 0.4));
    }

    /// <summary>The database or network coming and going: worth a warning without a stack trace.</summary>
    private static bool IsExpected(Exception failure) => failure is NpgsqlException or TimeoutException or IOException;

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Background service {service} failed ({failures_in_a_row} in a row), next attempt in {backoff_ms} ms: {reason}")]
    private static partial void LogTransientFailure(ILogger logger, string service, int failures_in_a_row, double backoff_ms, string reason);

    [LoggerMessage(Level = LogLevel.Error,
        Message = "Background service {service} failed unexpectedly ({failures_in_a_row} in a row), next attempt in {backoff_ms} ms: {reason}")]
    private static partial void LogUnexpectedFailure(
        ILogger logger, Exception exception, string service, int failures_in_a_row, double backoff_ms, string reason);
}

/// <summary>One loop's failure state: how many iterations in a row failed, which sets the next backoff.</summary>
public sealed class LoopGuard(BackgroundFailures failures, string service)
{
    private int failuresInARow;

    /// <summary>
    /// Runs one iteration. True when it succeeded (the backoff starts over). When it throws, the failure is logged and
    /// counted, <paramref name="onFailure"/> runs, the backoff is waited out, and the answer is false. Once
    /// <paramref name="stoppingToken"/> is cancelled any failure ends the loop as an <see cref="OperationCanceledException"/>,
    /// so a loop that keeps failing while the host stops (the pool is closing) exits instead of spinning.
    /// </summary>
    public async Task<bool> RunAsync(Func<CancellationToken, Task> iteration, CancellationToken stoppingToken, Action<Exception>? onFailure = null)
    {
        try
        {
            await iteration(stoppingToken);
            failuresInARow = 0;
            return true;
        }
        catch (Exception e) when (!stoppingToken.IsCancellationRequested)
        {
            onFailure?.Invoke(e);
            await failures.FailedAsync(service, e, ++failuresInARow, stoppingToken);
            return false;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new OperationCanceledException($"{service} stopped while failing: {e.Message}", e, stoppingToken);
        }
    }

    /// <summary>For an iteration that lasts (a listener's session): it is healthy now, so its next failure backs off from the start.</summary>
    public void Succeeded() => failuresInARow = 0;
}
