using System.Diagnostics;
using Microsoft.Extensions.Options;
using TaskRunner.Infrastructure.Configuration;

namespace TaskRunner.Infrastructure.Hosting;

/// <summary>Whether this node is draining for shutdown; readiness reports 503 from the moment SIGTERM arrives.</summary>
public sealed class ShutdownState : IDisposable
{
    private readonly CancellationTokenSource drain = new();
    private long drainStartedTimestamp;

    /// <summary>Cancelled when the drain begins: what waits on clients (long polls) answers now instead of at its deadline.</summary>
    public CancellationToken DrainStarted => drain.Token;

    public bool IsDraining => Interlocked.Read(ref drainStartedTimestamp) != 0;

    /// <summary>Time since the drain began, for the shutdown log line.</summary>
    public TimeSpan Elapsed => IsDraining ? Stopwatch.GetElapsedTime(Interlocked.Read(ref drainStartedTimestamp)) : TimeSpan.Zero;

    public void BeginDrain()
    {
        if (Interlocked.CompareExchange(ref drainStartedTimestamp, Stopwatch.GetTimestamp(), 0) == 0)
            drain.Cancel();
    }

    public void Dispose() => drain.Dispose();
}

/// <summary>
/// The shutdown sequence: SIGTERM → not ready at once → the drain delay passes while the node still serves (load balancers
/// notice) → Kestrel stops accepting and in-flight requests finish within the timeout → background services stop → the
/// data source closes the pool. <see cref="IHostedLifecycleService.StoppingAsync"/> runs before any service's StopAsync,
/// which is exactly the window the drain needs.
/// </summary>
public sealed partial class DrainOnShutdown(
    ShutdownState state,
    ShutdownMetrics metrics,
    IOptions<ShutdownOptions> options,
    ILogger<DrainOnShutdown> logger) : IHostedLifecycleService
{
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        var inFlight = metrics.SignalReceived();
        state.BeginDrain();
        var delay = TimeSpan.FromSeconds(options.Value.DrainDelaySeconds);
        LogDraining(logger, delay.TotalSeconds, options.Value.TimeoutSeconds, inFlight.Requests, inFlight.Deliveries);
        if (delay > TimeSpan.Zero)
            await Task.Delay(delay, cancellationToken).ContinueWith(static _ => { }, TaskScheduler.Default);
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Shutdown requested: not ready from now on, draining for {drain_seconds} s, then in-flight work gets {timeout_seconds} s; in flight now: {requests_in_flight} requests, {deliveries_in_flight} deliveries")]
    private static partial void LogDraining(ILogger logger, double drain_seconds, int timeout_seconds, long requests_in_flight, long deliveries_in_flight);
}

public static partial class GracefulShutdown
{
    public static IServiceCollection AddGracefulShutdown(this IServiceCollection services)
    {
        services.AddSingleton<ShutdownState>();
        services.AddSingleton<ShutdownMetrics>();
        services.AddSingleton<BackgroundFailures>();
        services.AddHostedService<DrainOnShutdown>();
        services.AddOptions<HostOptions>().Configure<IOptions<ShutdownOptions>>((host, shutdown) =>
        {
            host.ShutdownTimeout = TimeSpan.FromSeconds(shutdown.Value.DrainDelaySeconds + shutdown.Value.TimeoutSeconds);
            // Loops catch their own failures (BackgroundFailures); a service that still dies is logged and the node goes on
            // serving, rather than stopping the host (and, with the leader's work, the next leader after it).
            host.BackgroundServiceExceptionBehavior = BackgroundServiceExceptionBehavior.Ignore;
        });
        return services;
    }

    /// <summary>
    /// Starts the host; a configuration error ends the process with exit code 1 and one log line naming the setting.
    /// After shutdown, logs how long it took, once the pool and everything else has been disposed.
    /// </summary>
    public static async Task<int> RunWithStartupChecksAsync(this WebApplication app)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("TaskRunner.Host");
        try
        {
            // Validate before the host starts, so the operator sees our one line rather than the host's generic error first.
            app.Services.GetRequiredService<IStartupValidator>().Validate();
            await app.StartAsync();
        }
        catch (Exception e) when (OptionsRegistration.ValidationFailures(e) is { Count: > 0 } failures)
        {
            LogInvalidConfiguration(logger, string.Join("; ", failures));
            await app.DisposeAsync();
            return 1;
        }
        catch (IOException e)
        {
            // Kestrel could not bind (address in use, no permission): the operator needs the address, not a stack trace.
            LogCannotListen(logger, e.Message);
            await app.DisposeAsync();
            return 1;
        }

        LogStarted(logger, Observability.ServiceVersion.Current, string.Join(", ", app.Urls));
        await app.WaitForShutdownAsync();
        var state = app.Services.GetRequiredService<ShutdownState>();
        await app.DisposeAsync();
        LogStopped(logger, Math.Round(state.Elapsed.TotalMilliseconds));
        return 0;
    }

    [LoggerMessage(Level = LogLevel.Critical, Message = "Invalid configuration: {problems}")]
    private static partial void LogInvalidConfiguration(ILogger logger, string problems);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Cannot listen: {reason}")]
    private static partial void LogCannotListen(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "TaskRunner {version} listening on {urls}")]
    private static partial void LogStarted(ILogger logger, string version, string urls);

    [LoggerMessage(Level = LogLevel.Information, Message = "Shutdown complete in {duration_ms} ms")]
    private static partial void LogStopped(ILogger logger, double duration_ms);
}
