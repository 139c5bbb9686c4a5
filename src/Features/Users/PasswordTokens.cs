using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Users;

/// <summary>A one-time password token as its only answer shows it: redeemed at POST /api/v1/auth/password-tokens/redeem.</summary>
public sealed record PasswordTokenResponse(string Token, string Purpose, DateTime ExpiresAt);

/// <summary>
/// One-time tokens that set an account's password: <c>set_password</c> for an account an admin created, <c>reset</c> for
/// one whose user forgot it. Random (256 bits), shown once to the admin who asked (no e-mail is sent: the admin passes it
/// on, for example inside a link), stored only as SHA-256, short-lived, used once. A new token replaces the user's unused
/// ones, so only the latest works.
/// </summary>
public static class PasswordTokens
{
    public const string SetPassword = "set_password";
    public const string Reset = "reset";

    private const string ReplaceSql = """
        WITH replaced AS (DELETE FROM password_tokens WHERE user_id = @userId AND used_at IS NULL)
        INSERT INTO password_tokens (token_hash, user_id, purpose, created_by, expires_at)
        VALUES (decode(@tokenHash, 'hex'), @userId, @purpose, @createdBy, now() + make_interval(mins => @minutes))
        RETURNING expires_at
        """;

    private const string ExistsSql = "SELECT EXISTS (SELECT FROM users WHERE id = @id AND deleted_at IS NULL)";

    /// <summary>Issues a token inside the caller's transaction and returns it with its expiry.</summary>
    public static async Task<PasswordTokenResponse> IssueAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid userId, string purpose, Guid createdBy, AuthOptions settings,
        CancellationToken cancellationToken)
    {
        var token = OpaqueTokens.New();
        var expiresAt = await connection.ExecuteScalarAsync<DateTime>(ReplaceSql, new
        {
            tokenHash = OpaqueTokens.HashHex(token),
            userId,
            purpose,
            createdBy,
            minutes = purpose == Reset ? settings.PasswordResetTokenMinutes : settings.SetPasswordTokenMinutes,
            cancellationToken,
        }, transaction);
        return new PasswordTokenResponse(token, purpose, expiresAt);
    }

    /// <summary>Admins: a reset token for a user who forgot their password. The current password keeps working until it is used.</summary>
    public static async Task<Results<Created<PasswordTokenResponse>, ProblemHttpResult>> IssueReset(
        Guid id, Caller caller, HttpContext http, NpgsqlDataSource dataSource, IOptions<AuthOptions> options, CancellationToken cancellationToken)
    {
        var issued = await dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            if (!await connection.ExecuteScalarAsync<bool>(ExistsSql, new { id, cancellationToken }, transaction))
                return null;
            var token = await IssueAsync(connection, transaction, id, Reset, caller.UserId, options.Value, cancellationToken);
            await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("user.password_reset_issue", "user", id.ToString(),
                AuditActor.From(http, caller), new AuditDiff().Change("expires_at", null, token.ExpiresAt).ToJson()), cancellationToken);
            return token;
        }, cancellationToken);
        if (issued is null)
            return Problems.NotFound("No such user.");
        http.Response.Headers.CacheControl = "no-store";
        return TypedResults.Created((string?)null, issued);
    }
}
