using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Auth;

public sealed record TotpEnrolmentResponse(string Secret, string OtpauthUri);

public sealed record TotpCodeRequest([property: ApiRequired] string? Code);

public sealed record TotpDisableRequest(string? TotpCode, string? RecoveryCode);

/// <summary>The recovery codes, shown once: each replaces a TOTP code at login once.</summary>
public sealed record RecoveryCodesResponse(string[] RecoveryCodes);

/// <summary>
/// The optional TOTP second factor (RFC 6238). A user enrols (gets a secret), confirms it with a code from their
/// authenticator (which enables it and answers ten recovery codes, hashed at rest), and from then on logs in with a
/// current code in <c>totp_code</c>, or a recovery code, beside the password. Every login attempt counts towards the
/// account's lockout before either is checked, so a burst of wrong codes locks the account like wrong passwords.
/// </summary>
public static class SecondFactor
{
    public const string Required = "This account has a second factor: send a current totp_code (or a recovery_code) with the email and password.";
    public const string Wrong = "The second-factor code is incorrect or was already used.";
    private const int RecoveryCodeCount = 10;
    private const string Issuer = "TaskRunner";

    public enum Outcome { NotNeeded, Accepted, Missing, Rejected }

    /// <summary>A code is claimed once: of two logins with the same code, only the one that advances the last step gets in.</summary>
    private const string ClaimStepSql = """
        UPDATE users SET totp_last_step = @step
        WHERE id = @id AND (totp_last_step IS NULL OR totp_last_step < @step)
        """;

    private const string UseRecoveryCodeSql = """
        UPDATE totp_recovery_codes SET used_at = now()
        WHERE code_hash = decode(@codeHash, 'hex') AND user_id = @id AND used_at IS NULL
        """;

    private const string AccountSql = """
        SELECT email, totp_secret, totp_enabled_at IS NOT NULL AS enabled, totp_last_step
        FROM users WHERE id = @id AND deleted_at IS NULL FOR UPDATE
        """;

    private const string StartEnrolmentSql = "UPDATE users SET totp_secret = @secret, updated_at = now() WHERE id = @id";

    private const string EnableSql = """
        UPDATE users SET totp_enabled_at = now(), totp_last_step = @step, updated_at = now() WHERE id = @id;
        DELETE FROM totp_recovery_codes WHERE user_id = @id;
        INSERT INTO totp_recovery_codes (code_hash, user_id)
        SELECT decode(hash, 'hex'), @id FROM unnest(@codeHashes::text[]) AS hash;
        """;

    private const string DisableSql = """
        UPDATE users SET totp_secret = NULL, totp_enabled_at = NULL, totp_last_step = NULL, updated_at = now() WHERE id = @id;
        DELETE FROM totp_recovery_codes WHERE user_id = @id;
        """;

    internal sealed record TotpAccount(string Email, string? TotpSecret, bool Enabled, long? TotpLastStep);

    /// <summary>Checks the second factor of a login whose password was right.</summary>
    public static async Task<Outcome> CheckAtLoginAsync(
        NpgsqlDataSource dataSource, Guid id, string secret, long? lastStep, string? totpCode, string? recoveryCode, TimeProvider clock,
        CancellationToken cancellationToken)
    {
        if (totpCode is null && recoveryCode is null)
            return Outcome.Missing;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await CheckAsync(connection, null, id, secret, lastStep, totpCode, recoveryCode, clock, cancellationToken)
            ? Outcome.Accepted
            : Outcome.Rejected;
    }

    /// <summary>True when the TOTP code is right and new (its step is claimed) or the recovery code is unused (it is spent).</summary>
    private static async Task<bool> CheckAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, Guid id, string secret, long? lastStep, string? totpCode,
        string? recoveryCode, TimeProvider clock, CancellationToken cancellationToken)
    {
        if (totpCode is not null)
        {
            return Totp.Match(secret, totpCode, clock.GetUtcNow(), lastStep) is { } step
                && await connection.ExecuteAsync(ClaimStepSql, new { id, step, cancellationToken }, transaction) == 1;
        }
        return recoveryCode is not null
            && await connection.ExecuteAsync(UseRecoveryCodeSql,
                new { id, codeHash = OpaqueTokens.HashHex(NormaliseRecoveryCode(recoveryCode)), cancellationToken }, transaction) == 1;
    }

    /// <summary>Recovery codes are read aloud and typed: case, spaces and dashes do not matter.</summary>
    private static string NormaliseRecoveryCode(string code) =>
        new(code.Where(character => character is not ('-' or ' ')).Select(char.ToUpperInvariant).ToArray());

    /// <summary>Starts (or restarts) enrolment: a new secret, not yet in force until a code confirms it.</summary>
    public static async Task<Results<Ok<TotpEnrolmentResponse>, ProblemHttpResult>> Enrol(
        Caller caller, HttpContext http, NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        if (caller.SessionId is null)
            return Problems.Forbidden("A second factor is enrolled from a session (log in); an API key cannot.");
        var secret = Totp.NewSecret();
        var enrolment = await dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            var account = await connection.QuerySingleAsync<TotpAccount>(AccountSql, new { id = caller.UserId, cancellationToken }, transaction);
            if (account.Enabled)
                return null;
            await connection.ExecuteAsync(StartEnrolmentSql, new { id = caller.UserId, secret, cancellationToken }, transaction);
            await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("auth.totp_enrol", "user", caller.UserId.ToString(),
                AuditActor.From(http, caller)), cancellationToken);
            return new TotpEnrolmentResponse(secret, Totp.ProvisioningUri(Issuer, account.Email, secret));
        }, cancellationToken);
        if (enrolment is null)
            return Problems.Conflict("A second factor is already enabled; disable it first to enrol another.");
        http.Response.Headers.CacheControl = "no-store";
        return TypedResults.Ok(enrolment);
    }

    /// <summary>Enables the enrolled secret once a code from it proves the authenticator has it; answers the recovery codes once.</summary>
    public static async Task<Results<Ok<RecoveryCodesResponse>, ProblemHttpResult>> Confirm(
        TotpCodeRequest request, Caller caller, HttpContext http, NpgsqlDataSource dataSource, CallerStateCache cache, TimeProvider clock,
        CancellationToken cancellationToken)
    {
        if (caller.SessionId is null)
            return Problems.Forbidden("A second factor is enrolled from a session (log in); an API key cannot.");
        var errors = new ValidationErrors();
        errors.RequireLength("code", request.Code, Totp.Digits, Totp.Digits);
        if (!errors.IsEmpty)
            return errors.ToProblem();
        var codes = Enumerable.Range(0, RecoveryCodeCount).Select(_ => NewRecoveryCode()).ToArray();
        var problem = await dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            var account = await connection.QuerySingleAsync<TotpAccount>(AccountSql, new { id = caller.UserId, cancellationToken }, transaction);
            if (account.Enabled || account.TotpSecret is null)
                return Problems.Conflict(account.Enabled ? "The second factor is already enabled." : "Nothing to confirm: enrol first.");
            if (Totp.Match(account.TotpSecret, request.Code, clock.GetUtcNow(), account.TotpLastStep) is not { } step)
                return WrongCode("code");
            await connection.ExecuteAsync(EnableSql, new
            {
                id = caller.UserId,
                step,
                codeHashes = PgArray.Of(codes.Select(code => OpaqueTokens.HashHex(NormaliseRecoveryCode(code)))),
                cancellationToken,
            }, transaction);
            await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("auth.totp_enable", "user", caller.UserId.ToString(),
                AuditActor.From(http, caller)), cancellationToken);
            await AuthChanges.PublishAsync(connection, transaction, AuthChanges.User(caller.UserId), cancellationToken);
            return (ProblemHttpResult?)null;
        }, cancellationToken);
        if (problem is not null)
            return problem;
        cache.Clear();
        http.Response.Headers.CacheControl = "no-store";
        return TypedResults.Ok(new RecoveryCodesResponse(codes));
    }

    /// <summary>Turns the second factor off; proving it (a current code or a recovery code) is what allows it.</summary>
    public static async Task<Results<NoContent, ProblemHttpResult>> Disable(
        TotpDisableRequest request, Caller caller, HttpContext http, NpgsqlDataSource dataSource, CallerStateCache cache, TimeProvider clock,
        CancellationToken cancellationToken)
    {
        if (caller.SessionId is null)
            return Problems.Forbidden("A second factor is turned off from a session (log in); an API key cannot.");
        var errors = new ValidationErrors();
        if ((request.TotpCode is null) == (request.RecoveryCode is null))
            errors.Add("totp_code", "send either totp_code or recovery_code");
        else if (request.TotpCode is not null)
            errors.RequireLength("totp_code", request.TotpCode, Totp.Digits, Totp.Digits);
        else
            errors.RequireLength("recovery_code", request.RecoveryCode, 1, 64);
        if (!errors.IsEmpty)
            return errors.ToProblem();
        var problem = await dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            var account = await connection.QuerySingleAsync<TotpAccount>(AccountSql, new { id = caller.UserId, cancellationToken }, transaction);
            if (!account.Enabled)
                return Problems.Conflict("No second factor is enabled.");
            if (!await CheckAsync(connection, transaction, caller.UserId, account.TotpSecret!, account.TotpLastStep, request.TotpCode,
                    request.RecoveryCode, clock, cancellationToken))
                return WrongCode(request.TotpCode is null ? "recovery_code" : "totp_code");
            await connection.ExecuteAsync(DisableSql, new { id = caller.UserId, cancellationToken }, transaction);
            await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("auth.totp_disable", "user", caller.UserId.ToString(),
                AuditActor.From(http, caller)), cancellationToken);
            await AuthChanges.PublishAsync(connection, transaction, AuthChanges.User(caller.UserId), cancellationToken);
            return (ProblemHttpResult?)null;
        }, cancellationToken);
        if (problem is not null)
            return problem;
        cache.Clear();
        return TypedResults.NoContent();
    }

    private static ProblemHttpResult WrongCode(string field)
    {
        var errors = new ValidationErrors();
        errors.Add(field, "is incorrect or was already used");
        return errors.ToProblem();
    }

    /// <summary>80 random bits as 16 base32 characters in groups of four (XXXX-XXXX-XXXX-XXXX).</summary>
    private static string NewRecoveryCode()
    {
        var text = Totp.Base32Encode(System.Security.Cryptography.RandomNumberGenerator.GetBytes(10));
        return string.Join('-', text.Chunk(4).Select(chunk => new string(chunk)));
    }
}
