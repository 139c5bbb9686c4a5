using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;

namespace TaskRunner.Infrastructure.Security;

/// <summary>
/// What a session lets its bearer do right now: the user's current role, whether it may act at all, and whether it must
/// first enrol a second factor (required of the user, or of admins by configuration, and not enabled yet).
/// </summary>
public sealed record SessionState(Guid UserId, string Role, bool Active, bool SecondFactorPending);

/// <summary>An API key as authentication needs it; the secret is only its hash.</summary>
public sealed record ApiKeyState(
    Guid Id, Guid UserId, string KeyRole, string UserRole, byte[] SecretHash, DateTime? ExpiresAt, bool Active, bool RequireSignature)
{
    /// <summary>A key never acts above its owner's current role.</summary>
    public string EffectiveRole => Roles.Rank(KeyRole) <= Roles.Rank(UserRole) ? KeyRole : UserRole;
}

/// <summary>
/// Every authenticated request needs its session's or key's current state. Reading it from PostgreSQL each time would cost
/// a query per request, so it is cached in memory; a revocation, a role change or a disabled user is published with
/// NOTIFY (<see cref="AuthChanges"/>) and drops the entry on every node at once. The short lifetime bounds staleness
/// should a notification ever be missed. Anyone can send a made-up API key, so the caches are bounded in size, and a
/// lookup that finds nothing is not kept: an unknown key costs a query every time, which the caller's budget of failed
/// credential checks (<see cref="CredentialFailureLimiter"/>) bounds before the query.
/// </summary>
public sealed class CallerStateCache(NpgsqlDataSource dataSource, TimeProvider clock, IOptions<AuthOptions> options)
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(60);

    /// <summary>Entries per cache: far more than the sessions and keys active within a minute on one node.</summary>
    public const int Capacity = 10_000;

    private readonly ExpiringCache<Guid, SessionState> sessions = new(Capacity, clock);
    private readonly ExpiringCache<string, ApiKeyState> apiKeys = new(Capacity, clock);

    /// <summary>Sessions and API keys held right now (for tests and diagnostics).</summary>
    public int Count => sessions.Count + apiKeys.Count;

    private const string SessionSql = """
        SELECT u.id AS user_id, u.role,
               (s.revoked_at IS NULL AND s.expires_at > now() AND NOT u.disabled AND u.deleted_at IS NULL) AS active,
               (u.totp_required OR (u.role = 'admin' AND @adminsNeedTotp)) AND u.totp_enabled_at IS NULL AS second_factor_pending
        FROM sessions s
        JOIN users u ON u.id = s.user_id
        WHERE s.id = @sessionId
        """;

    private const string ApiKeySql = """
        SELECT k.id, k.user_id, k.role AS key_role, u.role AS user_role, k.secret_hash, k.expires_at,
               (k.revoked_at IS NULL AND NOT u.disabled AND u.deleted_at IS NULL) AS active, k.require_signature
        FROM api_keys k
        JOIN users u ON u.id = k.user_id
        WHERE k.prefix = @prefix
        """;

    public async ValueTask<SessionState?> GetSessionAsync(Guid sessionId, CancellationToken cancellationToken)
    {
        if (sessions.TryGet(sessionId, out var cached))
            return cached;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var state = await connection.QuerySingleOrDefaultAsync<SessionState>(SessionSql,
            new { sessionId, adminsNeedTotp = options.Value.RequireTotpForAdmins, cancellationToken });
        if (state is not null)
            sessions.Set(sessionId, state, clock.GetUtcNow() + Lifetime);
        return state;
    }

    /// <summary>A key already in the cache, without any lookup.</summary>
    public bool TryGetCachedApiKey(string prefix, out ApiKeyState key) => apiKeys.TryGet(prefix, out key);

    public async ValueTask<ApiKeyState?> GetApiKeyAsync(string prefix, CancellationToken cancellationToken)
    {
        if (apiKeys.TryGet(prefix, out var cached))
            return cached;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var state = await connection.QuerySingleOrDefaultAsync<ApiKeyState>(ApiKeySql, new { prefix, cancellationToken });
        if (state is not null)
            apiKeys.Set(prefix, state, clock.GetUtcNow() + Lifetime);
        return state;
    }

    /// <summary>Applies one change notification (see <see cref="AuthChanges"/>).</summary>
    public void Apply(string change)
    {
        if (change.StartsWith(AuthChanges.SessionPrefix, StringComparison.Ordinal)
            && Guid.TryParse(change.AsSpan(AuthChanges.SessionPrefix.Length), out var sessionId))
            sessions.Remove(sessionId);
        else if (change.StartsWith(AuthChanges.ApiKeyPrefix, StringComparison.Ordinal))
            apiKeys.Remove(change[AuthChanges.ApiKeyPrefix.Length..]);
        else
            Clear();
    }

    /// <summary>Forgets everything: a user changed (role, disabled), or notifications may have been missed.</summary>
    public void Clear()
    {
        sessions.Clear();
        apiKeys.Clear();
    }
}
