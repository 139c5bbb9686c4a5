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

/// <summary>An account with a second factor also sends a current <c>totp_code</c>, or one of its <c>recovery_code</c>s.</summary>
public sealed record LoginRequest([property: ApiRequired] string? Email, [property: ApiRequired] string? Password, string? TotpCode, string? RecoveryCode);

/// <summary>
/// Email and password → a session with an access and a refresh token. Unknown email, wrong password, a locked or a
/// disabled account all answer the same 401 after the same amount of work, so the answer reveals nothing. Repeated failures
/// lock the account for a while and slow down the client address. Password checks share a bounded number of slots
/// (<see cref="PasswordHashingSlots"/>); when none comes free in time the answer is 503 with Retry-After.
/// </summary>
public static class Login
{
    public const string InvalidCredentials = "The email or password is incorrect.";

    public const string Busy = "Too many passwords are being checked right now; retry after the number of seconds in Retry-After.";

    /// <summary>Verified when the email is unknown, so that answer takes as long as a wrong password.</summary>
    private static readonly string DecoyHash = PasswordHasher.Hash("decoy password that never matches");

    private const string BlockedSql = """
        SELECT blocked_until FROM login_failures_by_ip WHERE ip = @ip AND blocked_until > now()
        """;

    /// <summary>
    /// Counts the attempt as a failure before the password is checked, in one statement, so a parallel burst cannot check
    /// more passwords than the lockout allows: the attempt that reaches the limit locks the account, and every later one
    /// finds it locked and is not checked at all. A success clears the count again (<see cref="RecordSuccessSql"/>). A lock
    /// that has run out starts the count again, so one wrong password after it does not lock at once.
    /// </summary>
    private const string ReserveAttemptSql = """
        WITH reserved AS (
            UPDATE users SET
        """ + "\n" + FailedLogins.CountAttempt + "\n" + """
            WHERE email = @email AND
        """ + "\n" + FailedLogins.Unlocked + "\n" + """
            RETURNING id, locked_until IS NOT NULL AS locks
        )
        SELECT u.id, u.password_hash, u.disabled OR u.deleted_at IS NOT NULL AS disabled,
               r.id IS NOT NULL AS reserved, coalesce(r.locks, false) AS locks_on_failure,
               u.totp_enabled_at IS NOT NULL AS totp_enabled, u.totp_secret, u.totp_last_step
        FROM users u
        LEFT JOIN reserved r ON r.id = u.id
        WHERE u.email = @email
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

    /// <summary>
    /// The account an attempt is for; <see cref="Reserved"/> is false when it is locked (and so not checked). An account
    /// an admin created has no <see cref="PasswordHash"/> until its set-password token is used.
    /// </summary>
    internal sealed record LoginAttempt(
        Guid Id, string? PasswordHash, bool Disabled, bool Reserved, bool LocksOnFailure, bool TotpEnabled, string? TotpSecret, long? TotpLastStep);

    public static async Task<Results<Ok<TokenResponse>, ProblemHttpResult>> Handle(
        LoginRequest request,
        HttpContext http,
        NpgsqlDataSource dataSource,
        SessionTokens sessions,
        RateLimitGate gate,
        PasswordHashingSlots hashing,
        IOptions<AuthOptions> options,
        TimeProvider clock,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var email = AccountRules.ValidateEmail(errors, "email", request.Email);
        errors.RequireLength("password", request.Password, 1, AccountRules.PasswordMaxLength);
        if (request.TotpCode is not null)
            errors.RequireLength("totp_code", request.TotpCode, Totp.Digits, Totp.Digits);
        if (request.RecoveryCode is not null)
            errors.RequireLength("recovery_code", request.RecoveryCode, 1, 64);
        if (request.TotpCode is not null && request.RecoveryCode is not null)
            errors.Add("recovery_code", "send either totp_code or recovery_code, not both");
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

        bool passwordMatches;
        LoginAttempt? user;
        string? newHash;
        using (var slot = await hashing.TryTakeAsync(cancellationToken))
        {
            if (slot is null)
                return Problems.ServiceUnavailable(http, PasswordHashingSlots.RetryAfter, Busy);
            user = await ReserveAttemptAsync(dataSource, email!, settings, cancellationToken);
            // A locked account's password is not checked, yet the decoy costs the same, so the answer takes as long.
            var checkable = user is { Reserved: true, PasswordHash: not null };
            var checkedHash = checkable ? user!.PasswordHash! : DecoyHash;
            passwordMatches = PasswordHasher.Verify(request.Password!, checkedHash) && checkable;
            newHash = passwordMatches && PasswordHasher.NeedsRehash(checkedHash) ? PasswordHasher.Hash(request.Password!) : null;
        }
        // The second factor is asked only once the password is right, so it never tells whether an email has an account.
        var secondFactor = user is not null && passwordMatches && !user.Disabled && user.TotpEnabled
            ? await SecondFactor.CheckAtLoginAsync(dataSource, user.Id, user.TotpSecret!, user.TotpLastStep, request.TotpCode,
                request.RecoveryCode, clock, cancellationToken)
            : SecondFactor.Outcome.NotNeeded;
        if (user is null || !passwordMatches || user.Disabled || secondFactor is not (SecondFactor.Outcome.NotNeeded or SecondFactor.Outcome.Accepted))
        {
            await dataSource.InTransactionAsync(async (connection, transaction) =>
            {
                var actor = AuditActor.From(http, null);
                var reason = user is null ? "unknown_email"
                    : !user.Reserved ? "locked"
                    : user.PasswordHash is null ? "no_password"
                    : !passwordMatches ? "wrong_password"
                    : user.Disabled ? "disabled"
                    : secondFactor == SecondFactor.Outcome.Missing ? "second_factor_missing" : "wrong_second_factor";
                await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("auth.login_failed", "user", user?.Id.ToString(),
                    actor, new AuditDiff().Change("email", null, email).Change("reason", null, reason).ToJson()), cancellationToken);
                if (user is { LocksOnFailure: true })
                    await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("auth.lockout", "user", user.Id.ToString(),
                        actor, new AuditDiff().Change("locked_for_minutes", null, settings.LockoutMinutes).ToJson()), cancellationToken);
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
            return Problems.Unauthorized(http, secondFactor switch
            {
                SecondFactor.Outcome.Missing => SecondFactor.Required,
                SecondFactor.Outcome.Rejected => SecondFactor.Wrong,
                _ => InvalidCredentials,
            });
        }

        var tokens = await dataSource.InTransactionAsync(async (connection, transaction) =>
        {
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

    private static async Task<LoginAttempt?> ReserveAttemptAsync(
        NpgsqlDataSource dataSource, string email, AuthOptions settings, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<LoginAttempt>(ReserveAttemptSql, new
        {
            email,
            maxFailures = settings.MaxFailedLogins,
            lockoutMinutes = settings.LockoutMinutes,
            cancellationToken,
        });
    }
}
