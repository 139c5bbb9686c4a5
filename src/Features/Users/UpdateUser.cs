using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Users;

/// <summary>
/// PATCH /users/{id}: admins change a user's role, disable the account (which ends its sessions at once) or require a TOTP
/// second factor of it.
/// </summary>
public static class UpdateUser
{
    private const string CurrentSql = """
        SELECT role, disabled, totp_required FROM users WHERE id = @id AND deleted_at IS NULL FOR UPDATE
        """;

    private const string UpdateSql = """
        UPDATE users
        SET role = coalesce(@role, role), disabled = coalesce(@disabled, disabled),
            totp_required = coalesce(@totpRequired, totp_required), updated_at = now()
        WHERE id = @id AND deleted_at IS NULL
        RETURNING id, email, display_name, role, disabled, created_at, updated_at, totp_required, totp_enabled_at IS NOT NULL AS totp_enabled
        """;

    /// <summary>A disabled user's sessions end at once, not when their access token expires.</summary>
    private const string EndSessionsSql = """
        UPDATE sessions SET revoked_at = now(), revoked_reason = 'user_disabled'
        WHERE user_id = @id AND revoked_at IS NULL
        """;

    public static async Task<Results<Ok<UserResponse>, ProblemHttpResult>> Handle(
        Guid id,
        UpdateUserRequest request,
        Caller caller,
        HttpContext http,
        NpgsqlDataSource dataSource,
        CallerStateCache cache,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        if (request.Role is not null && !Roles.All.Contains(request.Role))
            errors.Add("role", "must be one of admin, member, viewer");
        if (request.Role is null && request.Disabled is null && request.TotpRequired is null)
            errors.Add("body", "set role, disabled, totp_required, or several");
        if (!errors.IsEmpty)
            return errors.ToProblem();
        if (id == caller.UserId && (request.Disabled == true || request.Role is not null && request.Role != Roles.Admin))
            return Problems.Conflict("Admins cannot demote or disable themselves; ask another admin.");

        var user = await dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            var before = await connection.QuerySingleOrDefaultAsync<UserState>(CurrentSql, new { id, cancellationToken }, transaction);
            if (before is null)
                return null;
            var updated = await connection.QuerySingleAsync<UserRow>(UpdateSql,
                new { id, role = request.Role, disabled = request.Disabled, totpRequired = request.TotpRequired, cancellationToken }, transaction);
            await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("user.update", "user", id.ToString(),
                AuditActor.From(http, caller),
                new AuditDiff().Change("role", before.Role, updated.Role).Change("disabled", before.Disabled, updated.Disabled)
                    .Change("totp_required", before.TotpRequired, updated.TotpRequired).ToJson()),
                cancellationToken);
            if (updated.Disabled)
                await connection.ExecuteAsync(EndSessionsSql, new { id, cancellationToken }, transaction);
            await AuthChanges.PublishAsync(connection, transaction, AuthChanges.User(id), cancellationToken);
            return updated;
        }, cancellationToken);
        if (user is null)
            return Problems.NotFound("No such user.");
        cache.Clear();
        return TypedResults.Ok(user.ToResponse());
    }
}
