using System.Diagnostics.Metrics;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Observability;

namespace TaskRunner.Features.Audit;

/// <summary>
/// Deletes audit entries older than <see cref="AuditOptions.RetentionDays"/>, every <see cref="AuditOptions.RetentionSweepMinutes"/>,
/// in batches of <see cref="AuditOptions.RetentionBatchSize"/> rows (see <see cref="RetentionSweep"/>).
/// </summary>
public static class AuditRetention
{
    // The oldest expired ids through audit_log_keyset_idx (scanned backwards), then each row through the primary key.
    private const string DeleteBatchSql = """
        DELETE FROM audit_log
        WHERE id = ANY (ARRAY(
            SELECT id FROM audit_log
            WHERE occurred_at < now() - make_interval(days => @retentionDays)
            ORDER BY occurred_at
            LIMIT @batchSize
            FOR UPDATE SKIP LOCKED))
        """;

    public static RetentionJob Job(AuditOptions options, IMeterFactory meters) =>
        new("audit-retention", TimeSpan.FromMinutes(options.RetentionSweepMinutes), options.RetentionDays, options.RetentionBatchSize,
        [
            new("audit entries", DeleteBatchSql, meters.Create(Telemetry.ServiceName)
                .CreateCounter<long>("taskrunner.audit.retention.deleted", "{entry}", "Audit entries deleted by the retention sweep")),
        ]);
}
