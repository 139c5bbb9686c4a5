using System.Diagnostics.Metrics;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Observability;

namespace TaskRunner.Features.Auth;

/// <summary>
/// Purges what authentication leaves behind once it can no longer matter, <see cref="AuthOptions.RetentionDays"/> after
/// it ended, every <see cref="AuthOptions.RetentionSweepMinutes"/> (see <see cref="RetentionSweep"/>): sessions that expired
/// or were revoked (their refresh tokens go with them), refresh tokens already used in live sessions (a used token
/// presented again revokes its session only while it is kept), per-address login-failure counts whose window and
/// block are over, and, as soon as they expire, signed-request nonces and password tokens.
/// </summary>
public static class AuthRetention
{
    private const int BatchSize = 1000;

    // Through sessions_expires_idx and sessions_revoked_idx (a BitmapOr), then each row through the primary key.
    private const string DeleteSessionsSql = """
        DELETE FROM sessions
        WHERE id = ANY (ARRAY(
            SELECT id FROM sessions
            WHERE expires_at < now() - make_interval(days => @retentionDays)
               OR revoked_at < now() - make_interval(days => @retentionDays)
            LIMIT @batchSize
            FOR UPDATE SKIP LOCKED))
        """;

    private const string DeleteRefreshTokensSql = """
        DELETE FROM refresh_tokens
        WHERE token_hash = ANY (ARRAY(
            SELECT token_hash FROM refresh_tokens
            WHERE used_at < now() - make_interval(days => @retentionDays)
            LIMIT @batchSize
            FOR UPDATE SKIP LOCKED))
        """;

    private const string DeleteLoginFailuresSql = """
        DELETE FROM login_failures_by_ip
        WHERE ip = ANY (ARRAY(
            SELECT ip FROM login_failures_by_ip
            WHERE window_start < now() - make_interval(days => @retentionDays)
              AND (blocked_until IS NULL OR blocked_until < now())
            LIMIT @batchSize
            FOR UPDATE SKIP LOCKED))
        """;

    // Their own expiry: a nonce past it guards nothing (its timestamp is refused), a token past it opens nothing.
    private const string DeleteNoncesSql = """
        DELETE FROM request_nonces
        WHERE ctid = ANY (ARRAY(
            SELECT ctid FROM request_nonces WHERE expires_at < now() LIMIT @batchSize FOR UPDATE SKIP LOCKED))
        """;

    private const string DeletePasswordTokensSql = """
        DELETE FROM password_tokens
        WHERE token_hash = ANY (ARRAY(
            SELECT token_hash FROM password_tokens WHERE expires_at < now() LIMIT @batchSize FOR UPDATE SKIP LOCKED))
        """;

    public static RetentionJob Job(AuthOptions options, IMeterFactory meters)
    {
        var deleted = meters.Create(Telemetry.ServiceName).CreateCounter<long>("taskrunner.auth.retention.deleted", "{row}",
            "Ended sessions, used refresh tokens, stale login-failure counts, expired nonces and password tokens deleted");
        return new("auth-retention", TimeSpan.FromMinutes(options.RetentionSweepMinutes), options.RetentionDays, BatchSize,
        [
            new("ended sessions", DeleteSessionsSql, deleted),
            new("used refresh tokens", DeleteRefreshTokensSql, deleted),
            new("stale login failures", DeleteLoginFailuresSql, deleted),
            new("expired request nonces", DeleteNoncesSql, deleted),
            new("expired password tokens", DeletePasswordTokensSql, deleted),
        ]);
    }
}
