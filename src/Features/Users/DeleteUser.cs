using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Users;

/// <summary>
/// Admins delete an account by anonymising it, for privacy: the one deletion that is not soft and cannot be restored. The
/// row stays (tasks, comments and the audit trail still name its id) but its email, name, password and second factor are
/// gone, its sessions (with their addresses and user agents), API keys and one-time tokens are deleted, and the email is
/// scrubbed from the audit entries about or by the account. The audit entries themselves are kept.
/// </summary>
public static class DeleteUser
{
    /// <summary>Locks the row, so two deletions (or a deletion and an update) do not interleave.</summary>
    private const string CurrentSql = """
        SELECT email, role FROM users WHERE id = @id AND deleted_at IS NULL FOR UPDATE
        """;

    /// <summary>The placeholder email is unique per account and can never be delivered (.invalid, RFC 2606).</summary>
    private const string AnonymiseSql = """
        UPDATE users
        SET email = 'deleted-' || replace(id::text, '-', '') || '@deleted.invalid', display_name = 'Deleted user',
            password_hash = NULL, disabled = true, failed_logins = 0, locked_until = NULL, totp_required = false,
            totp_secret = NULL, totp_enabled_at = NULL, totp_last_step = NULL, updated_at = now(), deleted_at = now()
        WHERE id = @id
        """;

    private const string DeleteCredentialsSql = """
        DELETE FROM sessions WHERE user_id = @id;
        DELETE FROM api_keys WHERE user_id = @id;
        DELETE FROM password_tokens WHERE user_id = @id;
        DELETE FROM totp_recovery_codes WHERE user_id = @id;
        """;

    /// <summary>Through the audit indexes on the resource and on the actor; the JSON string of the email is replaced wherever it appears.</summary>
    private const string ScrubAuditSql = """
        UPDATE audit_log
        SET diff = replace(diff::text, to_jsonb(@email::text)::text, '"[deleted]"')::jsonb
        WHERE ((resource_type = 'user' AND resource_id = @id::text) OR actor_user_id = @id)
          AND strpos(diff::text, to_jsonb(@email::text)::text) > 0
        """;

    internal sealed record UserToDelete(string Email, string Role);

    public static async Task<Results<NoContent, ProblemHttpResult>> Handle(
        Guid id, Caller caller, HttpContext http, NpgsqlDataSource dataSource, CallerStateCache cache, CancellationToken cancellationToken)
    {
        if (id == caller.UserId)
            return Problems.Conflict("Admins cannot delete themselves; ask another admin.");
        var deleted = await dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            var user = await connection.QuerySingleOrDefaultAsync<UserToDelete>(CurrentSql, new { id, cancellationToken }, transaction);
            if (user is null)
                return false;
            await connection.ExecuteAsync(AnonymiseSql, new { id, cancellationToken }, transaction);
            await connection.ExecuteAsync(DeleteCredentialsSql, new { id, cancellationToken }, transaction);
            await connection.ExecuteAsync(ScrubAuditSql, new { id, email = user.Email, cancellationToken }, transaction);
            await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("user.delete", "user", id.ToString(),
                AuditActor.From(http, caller), new AuditDiff().Change("role", user.Role, null).Change("anonymised", false, true).ToJson()),
                cancellationToken);
            await AuthChanges.PublishAsync(connection, transaction, AuthChanges.User(id), cancellationToken);
            return true;
        }, cancellationToken);
        if (!deleted)
            return Problems.NotFound("No such user.");
        cache.Clear();
        return TypedResults.NoContent();
    }
}
