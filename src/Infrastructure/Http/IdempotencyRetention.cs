using System.Diagnostics.Metrics;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Observability;

namespace TaskRunner.Infrastructure.Http;

/// <summary>Deletes <c>Idempotency-Key</c> records past their 24 hours, hourly, in batches (see <see cref="RetentionSweep"/>).</summary>
public static class IdempotencyRetention
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

    public static RetentionJob Job(IMeterFactory meters) =>
        new("idempotency-retention", TimeSpan.FromHours(1), RetentionDays: 0, BatchSize: 1000,
        [
            new("expired idempotency keys", DeleteBatchSql, meters.Create(Telemetry.ServiceName)
                .CreateCounter<long>("taskrunner.idempotency.retention.deleted", "{key}", "Expired Idempotency-Key records deleted")),
        ]);
}
