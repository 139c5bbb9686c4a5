using System.Diagnostics.Metrics;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Observability;

namespace TaskRunner.Features.Projects;

/// <summary>
/// Removes for good the projects soft-deleted more than <see cref="ProjectsOptions.RetentionDays"/> ago, every
/// <see cref="ProjectsOptions.RetentionSweepMinutes"/>, in batches of <see cref="ProjectsOptions.RetentionBatchSize"/>
/// projects, each its own short statement. Their members, tasks, dependencies and comments go with them (foreign keys
/// cascade). Every node sweeps; SKIP LOCKED keeps them from waiting on each other or on a restore in progress.
/// </summary>
public sealed partial class ProjectRetention : BackgroundService
{
    /// <summary>Lets autovacuum, replicas and other writers keep up between batches.</summary>
    private static readonly TimeSpan PauseBetweenBatches = TimeSpan.FromMilliseconds(100);

    // The oldest expired ids through projects_deleted_idx, then each row through the primary key ("= ANY(ARRAY(...))"
    // keeps the generic plan of the prepared statement off a sequential scan; see AuditRetention).
    private const string DeleteBatchSql = """
        DELETE FROM projects
        WHERE id = ANY (ARRAY(
            SELECT id FROM projects
            WHERE deleted_at < now() - make_interval(days => @retentionDays)
            ORDER BY deleted_at
            LIMIT @batchSize
            FOR UPDATE SKIP LOCKED))
        """;

    private readonly NpgsqlDataSource dataSource;
    private readonly ProjectsOptions options;
    private readonly TimeProvider clock;
    private readonly ILogger<ProjectRetention> logger;
    private readonly Counter<long> purgedProjects;

    public ProjectRetention(
        NpgsqlDataSource dataSource, IOptions<ProjectsOptions> options, TimeProvider clock, IMeterFactory meters, ILogger<ProjectRetention> logger)
    {
        this.dataSource = dataSource;
        this.options = options.Value;
        this.clock = clock;
        this.logger = logger;
        purgedProjects = meters.Create(Telemetry.ServiceName)
            .CreateCounter<long>("taskrunner.projects.retention.purged", "{project}", "Deleted projects purged by the retention sweep");
    }

    /// <summary>One sweep: purges batches until a batch comes back short. Returns how many projects it purged.</summary>
    public async Task<long> SweepAsync(CancellationToken cancellationToken)
    {
        long total = 0;
        while (true)
        {
            int purged;
            await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
            {
                purged = await connection.ExecuteAsync(DeleteBatchSql,
                    new { retentionDays = options.RetentionDays, batchSize = options.RetentionBatchSize, cancellationToken });
            }
            total += purged;
            purgedProjects.Add(purged);
            if (purged < options.RetentionBatchSize)
                return total;
            await Task.Delay(PauseBetweenBatches, clock, cancellationToken);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMinutes(options.RetentionSweepMinutes), clock);
        try
        {
            do
            {
                try
                {
                    var purged = await SweepAsync(stoppingToken);
                    if (purged > 0)
                        LogSwept(logger, purged, options.RetentionDays);
                }
                catch (Exception e) when (e is NpgsqlException or TimeoutException)
                {
                    // Batches already purged stay purged; the next sweep carries on where this one stopped.
                    LogSweepFailed(logger, e.Message);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutdown: the batch in flight was cancelled (rolled back) or committed; either way the tables are consistent.
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Project retention purged {Purged} projects deleted more than {Days} days ago")]
    private static partial void LogSwept(ILogger logger, long purged, int days);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Project retention sweep failed, retrying at the next sweep: {Reason}")]
    private static partial void LogSweepFailed(ILogger logger, string reason);
}
