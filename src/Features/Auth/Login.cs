using System.Net;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Features.Users;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.RateLimiting;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Auth;

public sealed record LoginRequest(string? Email, string? Password);

/// <summary>
/// Email and password → a session with an access and a refresh token. Unknown email, wrong password, a locked or a
/// disabled account all answer the same 401 after the same amount of work, so the answer reveals nothing. Repeated failures
/// lock the account for a while and slow down the client address.
/// </summary>
public static class Login
{
    public const string InvalidCredentials = "The email or password is incorrect.";

    /// <summary>Verified when the email is unknown, so that answer takes as long as a wrong password.</summary>
    private static readonly string DecoyHash = PasswordHasher.Hash("decoy password that never matches");

    private const string BlockedSql = """
        SELECT blocked_until FROM login_failures_by_ip WHERE ip = @ip AND blocked_until > now()
        """;

    private const string UserSql = """
        SELECT id, password_hash, disabled OR deleted_at IS NOT NULL AS disabled, locked_until > now() AS locked
        FROM users
        WHERE email = @email
        """;

    /// <summary>A lock that has run out starts the count again, so one wrong password after it does not lock at once.</summary>
    private const string RecordUserFailureSql = """
        WITH counted AS (
            SELECT id, CASE WHEN locked_until <= now() THEN 1 ELSE failed_logins + 1 END AS failures
            FROM users WHERE id = @id
        )
        UPDATE users u
        SET failed_logins = c.failures,
            locked_until = CASE WHEN c.failures >= @maxFailures THEN now() + make_interval(mins => @lockoutMinutes) END
        FROM counted c
        WHERE u.id = c.id
        RETURNING u.locked_until IS NOT NULL
        """;

    private const string RecordIpFailureSql = """
        INSERT INTO login_failures_by_ip AS f (ip, failures, window_start)
        VALUES (@ip, 1, now())
        ON CONFLICT (ip) DO UPDATE
        SET failures = CASE WHEN f.window_start < now() - make_interval(mins => @windowMinutes) THEN 1 ELSE f.failures + 1 END,
            window_start = CASE WHEN f.window_start < now() - make_interval(mins => @windowMinutes) THEN now() ELSE f.window_start END,
            blocked_until = CASE
                WHEN f.window_start >= now() - make_interval(mins => @windowMinutes) AND f.failures + 1 >= @maxFailures
                THEN now() + make_interval(mins => @blockMinutes) ELSE f.blocked_until END
        RETURNING coalesce(f.blocked_until > now(), false)
        """;

    private const string RecordSuccessSql = """
        UPDATE users SET failed_logins = 0, locked_until = NULL, password_hash = coalesce(@newHash, password_hash)
        WHERE id = @id
        """;

    internal sealed record UserCredentials(Guid Id, string PasswordHash, bool Disabled, bool? Locked);

    public static async Task<Results<Ok<TokenResponse>, ProblemHttpResult>> Handle(
        LoginRequest request,
        HttpContext http,
        NpgsqlDataSource dataSource,
        SessionTokens sessions,
        RateLimitGate gate,
        IOptions<AuthOptions> options,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var email = AccountRules.ValidateEmail(errors, "email", request.Email);
        errors.RequireLength("password", request.Password, 1, AccountRules.PasswordMaxLength);
        if (!errors.IsEmpty)
            return errors.ToProblem();
        if (await gate.CheckLoginAsync(http, email!, cancellationToken) is { } tooMany)
            return tooMany;

        var settings = options.Value;
        var ip = http.Connection.RemoteIpAddress ?? IPAddress.Loopback;
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            var blockedUntil = await connection.QuerySingleOrDefaultAsync<DateTime?>(BlockedSql, new { ip, cancellationToken });
            if (blockedUntil is { } until)
            {
                await AuditWriter.WriteAsync(connection, null, new AuditEntry("auth.login_throttled", "user", null,
                    AuditActor.From(http, null), new AuditDiff().Change("email", null, email).ToJson()), cancellationToken);
                return Problems.TooManyRequests(http, until - DateTime.UtcNow, "Too many failed logins from this address; retry later.");
            }
        }

        var user = await FindAsync(dataSource, email!, cancellationToken);
        var passwordMatches = PasswordHasher.Verify(request.Password!, user?.PasswordHash ?? DecoyHash);
        if (user is null || !passwordMatches || user.Disabled || user.Locked == true)
        {
            await dataSource.InTransactionAsync(async (connection, transaction) =>
            {
                var actor = AuditActor.From(http, null);
                var reason = user is null ? "unknown_email" : !passwordMatches ? "wrong_password" : user.Disabled ? "disabled" : "locked";
                await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("auth.login_failed", "user", user?.Id.ToString(),
                    actor, new AuditDiff().Change("email", null, email).Change("reason", null, reason).ToJson()), cancellationToken);
                if (user is not null && !passwordMatches && user.Locked != true)
                {
                    var nowLocked = await connection.ExecuteScalarAsync<bool>(RecordUserFailureSql, new
                    {
                        id = user.Id,
                        maxFailures = settings.MaxFailedLogins,
                        lockoutMinutes = settings.LockoutMinutes,
                        cancellationToken,
                    }, transaction);
                    if (nowLocked)
                        await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("auth.lockout", "user", user.Id.ToString(),
                            actor, new AuditDiff().Change("locked_for_minutes", null, settings.LockoutMinutes).ToJson()), cancellationToken);
                }
                var addressBlocked = await connection.ExecuteScalarAsync<bool>(RecordIpFailureSql, new
                {
                    ip,
                    windowMinutes = settings.IpWindowMinutes,
                    maxFailures = settings.IpMaxFailures,
                    blockMinutes = settings.IpBlockMinutes,
                    cancellationToken,
                }, transaction);
                if (addressBlocked)
                    await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("auth.address_blocked", "address", ip.ToString(),
                        actor, new AuditDiff().Change("blocked_for_minutes", null, settings.IpBlockMinutes).ToJson()), cancellationToken);
                return true;
            }, cancellationToken);
            return Problems.Unauthorized(http, InvalidCredentials);
        }

        var tokens = await dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            var newHash = PasswordHasher.NeedsRehash(user.PasswordHash) ? PasswordHasher.Hash(request.Password!) : null;
            await connection.ExecuteAsync(RecordSuccessSql, new { id = user.Id, newHash, cancellationToken }, transaction);
            var started = await sessions.StartSessionAsync(connection, transaction, user.Id, http, cancellationToken);
            http.Response.Headers.CacheControl = "no-store";
            await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("auth.login", "session", started.SessionId.ToString(),
                AuditActor.From(http, null) with { UserId = user.Id },
                newHash is null ? null : new AuditDiff().Change("password_hash_scheme", "old", "current").ToJson()), cancellationToken);
            return started;
        }, cancellationToken);
        return TypedResults.Ok(tokens);
    }

    private static async Task<UserCredentials?> FindAsync(NpgsqlDataSource dataSource, string email, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<UserCredentials>(UserSql, new { email, cancellationToken });
    }
}
