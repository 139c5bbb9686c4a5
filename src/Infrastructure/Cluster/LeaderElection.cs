using System.Diagnostics.Metrics;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Hosting;
using TaskRunner.Infrastructure.Observability;

namespace TaskRunner.Infrastructure.Cluster;

/// <summary>
/// One leader among the nodes on a database: the node whose dedicated connection holds a session-level PostgreSQL
/// advisory lock. Others retry every <see cref="ClusterOptions.LeaderRetrySeconds"/>. The leader checks its connection as
/// often and steps down the moment it fails (the lock may already be someone else's); when a leader dies, PostgreSQL ends
/// its session, frees the lock, and the next attempt of another node wins. Leader-only work derives from
/// <see cref="LeaderOnlyService"/> or awaits <see cref="WaitForLeadershipAsync"/>.
/// </summary>
/// <remarks>
/// Leadership is a performance arrangement, not a correctness one: for a short time after a network partition two nodes
/// may both believe they lead, so leader work must stay safe when done twice (the scheduler's fire log is keyed).
/// </remarks>
public sealed partial class LeaderElection : BackgroundService
{
    /// <summary>"tasklead"; the migrator's lock is another key. Advisory locks are per database.</summary>
    public const long LockKey = 0x7461736b6c656164;

    private const string TryLockSql = "SELECT pg_try_advisory_lock(@key)";
    private const string PingSql = "SELECT 1";

    private readonly IOptions<DatabaseOptions> database;
    private readonly ClusterOptions options;
    private readonly NodeRegistry registry;
    private readonly ILogger<LeaderElection> logger;
    private readonly LoopGuard guard;
    private readonly Counter<long> changes;
    private readonly Lock gate = new();
    private TaskCompletionSource<CancellationToken> acquired = NewWaiter();
    private CancellationTokenSource? term;

    public LeaderElection(
        IOptions<DatabaseOptions> database, IOptions<ClusterOptions> options, NodeRegistry registry, IMeterFactory meters,
        BackgroundFailures failures, ILogger<LeaderElection> logger)
    {
        this.database = database;
        this.options = options.Value;
        this.registry = registry;
        this.logger = logger;
        guard = failures.For("leader-election");
        var meter = meters.Create(Telemetry.ServiceName);
        changes = meter.CreateCounter<long>("taskrunner.cluster.leader_changes", "{change}",
            "Times this node took (change=acquired) or lost (change=lost) the leadership");
        meter.CreateObservableGauge("taskrunner.cluster.is_leader", () => IsLeader ? 1 : 0, "{leader}",
            "1 while this node is the leader, else 0");
    }

    public bool IsLeader
    {
        get
        {
            lock (gate)
                return term is not null;
        }
    }

    /// <summary>
    /// Completes when this node leads (at once if it does), with a token cancelled the moment it stops leading. Leader-only
    /// work runs under that token.
    /// </summary>
    public Task<CancellationToken> WaitForLeadershipAsync(CancellationToken cancellationToken)
    {
        Task<CancellationToken> waiter;
        lock (gate)
            waiter = acquired.Task;
        return waiter.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Its own unpooled connection: closing it ends the session, which is what releases the lock. A node cut off from the
    /// database (a partition, a frozen process) cannot close it, so both ends watch the session: this node pings every
    /// retry interval and steps down when a ping fails or times out; the server ends a session that has been silent for
    /// <see cref="ServerIdleSeconds"/> (<c>idle_session_timeout</c>, longer than this node takes to step down) or whose
    /// peer stops answering TCP keepalives, and so frees the lock for the next leader.
    /// </summary>
    private string LockConnectionString
    {
        get
        {
            var retry = options.LeaderRetrySeconds;
            var builder = new NpgsqlConnectionStringBuilder(database.Value.ConnectionString)
            {
                Pooling = false,
                KeepAlive = retry,
                TcpKeepAlive = true,
                TcpKeepAliveTime = retry,
                TcpKeepAliveInterval = retry,
                Timeout = database.Value.ConnectionTimeoutSeconds,
                CommandTimeout = retry,
                // A timed-out ping breaks the connection at once instead of waiting for the server to confirm a cancel.
                CancellationTimeout = -1,
                ApplicationName = "taskrunner-leader",
            };
            var idle = ServerIdleSeconds * 1000;
            var sessionTimeouts = $"-c idle_session_timeout={idle} -c idle_in_transaction_session_timeout={idle} "
                + $"-c tcp_keepalives_idle={retry} -c tcp_keepalives_interval={retry} -c tcp_keepalives_count=3 -c tcp_user_timeout={idle}";
            builder.Options = string.IsNullOrEmpty(builder.Options) ? sessionTimeouts : builder.Options + " " + sessionTimeouts;
            return builder.ConnectionString;
        }
    }

    /// <summary>
    /// How long the server keeps a silent lock session: three ping intervals, while this node gives up after at most two
    /// (one wait, one ping timing out), so it has stopped acting as leader before another node can take the lock.
    /// </summary>
    private int ServerIdleSeconds => 3 * options.LeaderRetrySeconds;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.CanLead)
            return;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
                await guard.RunAsync(HoldLockAsync, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>One session on the lock connection: waits for the lock, leads while the session lives, steps down when it ends.</summary>
    private async Task HoldLockAsync(CancellationToken stoppingToken)
    {
        var retry = TimeSpan.FromSeconds(options.LeaderRetrySeconds);
        // Named, so the connection metrics label it by name rather than by its connection string.
        await using var source = new NpgsqlDataSourceBuilder(LockConnectionString) { Name = "taskrunner-leader" }.Build();
        await using var connection = await source.OpenConnectionAsync(stoppingToken);
        guard.Succeeded();
        while (!await connection.ExecuteScalarAsync<bool>(TryLockSql, new { key = LockKey, cancellationToken = stoppingToken }))
            await Task.Delay(retry, stoppingToken);
        try
        {
            Acquire();
            await MarkLeaderAsync(stoppingToken);
            while (true)
            {
                // Returns at once with an error if the server ends the session (its socket closes); otherwise
                // times out and the ping proves the session, and so the lock, is still there.
                await connection.WaitAsync(retry, stoppingToken);
                await connection.ExecuteScalarAsync<int>(PingSql, new { cancellationToken = stoppingToken });
            }
        }
        finally
        {
            Lose();
            await StepDownAsync();
        }
    }

    private void Acquire()
    {
        lock (gate)
        {
            term = new CancellationTokenSource();
            acquired.TrySetResult(term.Token);
        }
        changes.Add(1, new KeyValuePair<string, object?>("change", "acquired"));
        LogAcquired(logger);
    }

    private void Lose()
    {
        CancellationTokenSource? ended;
        lock (gate)
        {
            ended = term;
            term = null;
            acquired = NewWaiter();
        }
        if (ended is null)
            return;
        // Not disposed: leader-only work may still hold linked tokens; an uncancellable-by-timer source needs no disposal.
        ended.Cancel();
        changes.Add(1, new KeyValuePair<string, object?>("change", "lost"));
        LogLost(logger);
    }

    private async Task MarkLeaderAsync(CancellationToken cancellationToken)
    {
        try
        {
            await registry.MarkLeaderAsync(cancellationToken);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            // Only the report in GET /nodes suffers; the lock is what decides.
            LogRegistryFailed(logger, e.Message);
        }
    }

    private async Task StepDownAsync()
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await registry.StepDownAsync(timeout.Token);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or OperationCanceledException or ObjectDisposedException)
        {
            LogRegistryFailed(logger, e.Message);
        }
    }

    private static TaskCompletionSource<CancellationToken> NewWaiter() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    [LoggerMessage(Level = LogLevel.Information, Message = "This node is now the leader")]
    private static partial void LogAcquired(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "This node is no longer the leader")]
    private static partial void LogLost(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not record the leadership in the node registry: {reason}")]
    private static partial void LogRegistryFailed(ILogger logger, string reason);
}

/// <summary>
/// A background service that runs only on the leader: <see cref="LeadAsync"/> starts when this node becomes leader and is
/// cancelled the moment it stops being leader (or the host stops); it starts again at the next leadership.
/// </summary>
public abstract class LeaderOnlyService(LeaderElection election, BackgroundFailures failures, string service) : BackgroundService
{
    /// <summary>Runs each iteration of the leader's work; also restarts <see cref="LeadAsync"/>, after a backoff, if it throws.</summary>
    protected LoopGuard Guard { get; } = failures.For(service);

    /// <summary>The leader's work, until <paramref name="leadership"/> is cancelled.</summary>
    protected abstract Task LeadAsync(CancellationToken leadership);

    protected sealed override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            CancellationToken term;
            try
            {
                term = await election.WaitForLeadershipAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            using var leadership = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, term);
            try
            {
                // Work that escapes its own guard is counted, backed off and started again while this node leads; work that
                // ends by itself waits for the next term rather than restarting in a loop.
                while (!await Guard.RunAsync(LeadAsync, leadership.Token))
                {
                }
                await Task.Delay(Timeout.Infinite, leadership.Token);
            }
            catch (OperationCanceledException) when (leadership.IsCancellationRequested)
            {
            }
        }
    }
}

public static class ClusterSetup
{
    public static IServiceCollection AddCluster(this IServiceCollection services)
    {
        services.AddSingleton<NodeIdentity>();
        services.AddSingleton<NodeRegistry>();
        services.AddHostedService<NodeHeartbeat>();
        services.AddSingleton<LeaderElection>();
        services.AddHostedService(provider => provider.GetRequiredService<LeaderElection>());
        return services;
    }
}
