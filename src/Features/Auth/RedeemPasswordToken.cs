using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Features.Users;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Auth;

public sealed record RedeemPasswordTokenRequest([property: ApiRequired] string? Token, [property: ApiRequired] string? NewPassword);

/// <summary>
/// Sets a password with a one-time token an admin issued (<see cref="PasswordTokens"/>): a new account's first password,
/// or a reset. The token works once and only until it expires. Every session of the account ends, and a lockout is lifted.
/// </summary>
public static class RedeemPasswordToken
{
    public const string Rejected = "The password token is invalid, expired or already used; ask an admin for a new one.";

    private const string FindSql = """
        SELECT t.user_id, t.purpose FROM password_tokens t
        JOIN users u ON u.id = t.user_id
        WHERE t.token_hash = decode(@tokenHash, 'hex') AND t.used_at IS NULL AND t.expires_at > now() AND u.deleted_at IS NULL
        """;

    /// <summary>Claims the token; of two concurrent uses only one gets a row back.</summary>
    private const string UseSql = """
        UPDATE password_tokens SET used_at = now()
        WHERE token_hash = decode(@tokenHash, 'hex') AND used_at IS NULL AND expires_at > now()
        RETURNING user_id, purpose
        """;

    private const string UpdateSql = """
        UPDATE users SET password_hash = @passwordHash, failed_logins = 0, locked_until = NULL, updated_at = now()
        WHERE id = @userId AND deleted_at IS NULL;
        UPDATE sessions SET revoked_at = now(), revoked_reason = 'password_reset' WHERE user_id = @userId AND revoked_at IS NULL;
        DELETE FROM password_tokens WHERE user_id = @userId AND used_at IS NULL;
        """;

    internal sealed record TokenOwner(Guid UserId, string Purpose);

    public static async Task<Results<NoContent, ProblemHttpResult>> Handle(
        RedeemPasswordTokenRequest request,
        HttpContext http,
        NpgsqlDataSource dataSource,
        PasswordHashingSlots hashing,
        CallerStateCache cache,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        errors.RequireLength("token", request.Token, 1, 256);
        AccountRules.ValidatePassword(errors, "new_password", request.NewPassword);
        if (!errors.IsEmpty)
            return errors.ToProblem();

        var tokenHash = OpaqueTokens.HashHex(request.Token!);
        // Checked before hashing, so made-up tokens cost a lookup and not a password hash.
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            if (await connection.QuerySingleOrDefaultAsync<TokenOwner>(FindSql, new { tokenHash, cancellationToken }) is null)
                return Problems.Unauthorized(http, Rejected);
        }
        string passwordHash;
        using (var slot = await hashing.TryTakeAsync(cancellationToken))
        {
            if (slot is null)
                return Problems.ServiceUnavailable(http, PasswordHashingSlots.RetryAfter, Login.Busy);
            passwordHash = PasswordHasher.Hash(request.NewPassword!);
        }
        var owner = await dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            var used = await connection.QuerySingleOrDefaultAsync<TokenOwner>(UseSql, new { tokenHash, cancellationToken }, transaction);
            if (used is null)
                return null;
            await connection.ExecuteAsync(UpdateSql, new { userId = used.UserId, passwordHash, cancellationToken }, transaction);
            await AuditWriter.WriteAsync(connection, transaction, new AuditEntry(
                used.Purpose == PasswordTokens.Reset ? "user.password_reset" : "user.password_set", "user", used.UserId.ToString(),
                AuditActor.From(http, null) with { UserId = used.UserId }), cancellationToken);
            await AuthChanges.PublishAsync(connection, transaction, AuthChanges.User(used.UserId), cancellationToken);
            return used;
        }, cancellationToken);
        if (owner is null)
            return Problems.Unauthorized(http, Rejected);
        cache.Clear();
        return TypedResults.NoContent();
    }
}
