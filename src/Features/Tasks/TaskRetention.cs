using System.Diagnostics.Metrics;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Observability;

namespace TaskRunner.Features.Tasks;

/// <summary>
/// Removes for good the tasks and comments soft-deleted more than <see cref="TasksOptions.RetentionDays"/> ago, every
/// <see cref="TasksOptions.RetentionSweepMinutes"/>, in batches of <see cref="TasksOptions.RetentionBatchSize"/> (see
/// <see cref="RetentionSweep"/>). A task's edges, comments and leases go with it (foreign keys cascade). Live tasks never
/// depend on a deleted one (deleting needs their deletion first, or cascade), so no waiting counter is left dangling.
/// </summary>
public static class TaskRetention
{
    // The oldest expired ids through tasks_deleted_idx, then each row through the primary key.
    private const string DeleteTasksSql = """
        DELETE FROM tasks
        WHERE id = ANY (ARRAY(
            SELECT id FROM tasks
            WHERE deleted_at < now() - make_interval(days => @retentionDays)
            ORDER BY deleted_at
            LIMIT @batchSize
            FOR UPDATE SKIP LOCKED))
        """;

    // Through task_comments_deleted_idx.
    private const string DeleteCommentsSql = """
        DELETE FROM task_comments
        WHERE id = ANY (ARRAY(
            SELECT id FROM task_comments
            WHERE deleted_at < now() - make_interval(days => @retentionDays)
            ORDER BY deleted_at
            LIMIT @batchSize
            FOR UPDATE SKIP LOCKED))
        """;

    public static RetentionJob Job(TasksOptions options, IMeterFactory meters) =>
        new("task-retention", TimeSpan.FromMinutes(options.RetentionSweepMinutes), options.RetentionDays, options.RetentionBatchSize,
        [
            new("deleted tasks", DeleteTasksSql,
                meters.Create(Telemetry.ServiceName).CreateCounter<long>("taskrunner.tasks.retention.purged", "{task}", "Deleted tasks purged by the retention sweep")),
            new("deleted comments", DeleteCommentsSql,
                meters.Create(Telemetry.ServiceName).CreateCounter<long>("taskrunner.comments.retention.purged", "{comment}", "Deleted comments purged by the retention sweep")),
        ]);
}
