using System.Diagnostics.Metrics;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Observability;

namespace TaskRunner.Features.Projects;

/// <summary>
/// Removes for good the projects soft-deleted more than <see cref="ProjectsOptions.RetentionDays"/> ago, every
/// <see cref="ProjectsOptions.RetentionSweepMinutes"/>, in batches of <see cref="ProjectsOptions.RetentionBatchSize"/>
/// projects (see <see cref="RetentionSweep"/>). Their members, tasks, dependencies and comments go with them (foreign keys
/// cascade); SKIP LOCKED also keeps a sweep from waiting on a restore in progress.
/// </summary>
public static class ProjectRetention
{
    // The oldest expired ids through projects_deleted_idx, then each row through the primary key.
    private const string DeleteBatchSql = """
        DELETE FROM projects
        WHERE id = ANY (ARRAY(
            SELECT id FROM projects
            WHERE deleted_at < now() - make_interval(days => @retentionDays)
            ORDER BY deleted_at
            LIMIT @batchSize
            FOR UPDATE SKIP LOCKED))
        """;

    public static RetentionJob Job(ProjectsOptions options, IMeterFactory meters) =>
        new("project-retention", TimeSpan.FromMinutes(options.RetentionSweepMinutes), options.RetentionDays, options.RetentionBatchSize,
        [
            new("deleted projects", DeleteBatchSql, meters.Create(Telemetry.ServiceName)
                .CreateCounter<long>("taskrunner.projects.retention.purged", "{project}", "Deleted projects purged by the retention sweep")),
        ]);
}
