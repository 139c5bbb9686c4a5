using System.Diagnostics.Metrics;
using Npgsql;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Hosting;
using TaskRunner.Infrastructure.Observability;

namespace TaskRunner.Infrastructure.Http;

/// <summary>Deletes <c>Idempotency-Key</c> records past their 24 hours, hourly, in batches (see <see cref="RetentionSweep"/>).</summary>
public sealed class IdempotencyRetention(
    NpgsqlDataSource dataSource, BackgroundFailures failures, TimeProvider clock, IMeterFactory meters, ILogger<IdempotencyRetention> logger)
    : RetentionSweep(dataSource, failures, "idempotency-retention", clock, logger, TimeSpan.FromHours(1), retentionDays: 0, batchSize: 1000)
{
    // Each record carries its own expiry (idempotency_keys_expires_idx); @retentionDays does not apply.
    private const string DeleteBatchSql = """
        DELETE FROM idempotency_keys
        WHERE (user_id, key) = ANY (ARRAY(
            SELECT (user_id, key) FROM idempotency_keys
            WHERE expires_at < now()
            ORDER BY expires_at
            LIMIT @batchSize
            FOR UPDATE SKIP LOCKED))
        """;

    protected override IReadOnlyList<RetentionTarget> Targets { get; } =
    [
        new("expired idempotency keys", DeleteBatchSql, meters.Create(Telemetry.ServiceName)
            .CreateCounter<long>("taskrunner.idempotency.retention.deleted", "{key}", "Expired Idempotency-Key records deleted")),
    ];
}
