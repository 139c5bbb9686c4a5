using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Hosting;
using TaskRunner.Infrastructure.Observability;

namespace TaskRunner.Features.Audit;

/// <summary>
/// Deletes audit entries older than <see cref="AuditOptions.RetentionDays"/>, every <see cref="AuditOptions.RetentionSweepMinutes"/>,
/// in batches of <see cref="AuditOptions.RetentionBatchSize"/> rows (see <see cref="RetentionSweep"/>).
/// </summary>
public sealed class AuditRetention(
    NpgsqlDataSource dataSource, BackgroundFailures failures, IOptions<AuditOptions> options, TimeProvider clock, IMeterFactory meters,
    ILogger<AuditRetention> logger)
    : RetentionSweep(dataSource, failures, "audit-retention", clock, logger, TimeSpan.FromMinutes(options.Value.RetentionSweepMinutes),
        options.Value.RetentionDays, options.Value.RetentionBatchSize)
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

    protected override IReadOnlyList<RetentionTarget> Targets { get; } =
    [
        new("audit entries", DeleteBatchSql, meters.Create(Telemetry.ServiceName)
            .CreateCounter<long>("taskrunner.audit.retention.deleted", "{entry}", "Audit entries deleted by the retention sweep")),
    ];
}
