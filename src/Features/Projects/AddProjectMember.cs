using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Projects;

public sealed record AddProjectMemberRequest([property: ApiRequired] Guid? UserId, [property: ApiRequired] string? Role);

/// <summary>
/// Owners (and admins) add an account to a live project with a role. Adding someone who is already a member is 409:
/// roles are not changed by this call.
/// </summary>
public static class AddProjectMember
{
    private const string UserExistsSql = """
        SELECT EXISTS (SELECT FROM users WHERE id = @userId AND deleted_at IS NULL)
        """;

    private const string InsertSql = """
        WITH added AS (
            INSERT INTO project_members (project_id, user_id, role, added_by)
            VALUES (@projectId, @userId, @role, @addedBy)
            ON CONFLICT (project_id, user_id) DO NOTHING
            RETURNING user_id, role, created_at)
        SELECT a.user_id, a.role, u.email, u.display_name, a.created_at
        FROM added a JOIN users u ON u.id = a.user_id
        """;

    public static async Task<Results<Created<ProjectMemberResponse>, ProblemHttpResult>> Handle(
        Guid id,
        AddProjectMemberRequest request,
        Caller caller,
        HttpContext http,
        NpgsqlDataSource dataSource,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        if (request.UserId is null)
            errors.Add("user_id", "is required");
        if (request.Role is null)
            errors.Add("role", "is required");
        else if (!ProjectRoles.All.Contains(request.Role))
            errors.Add("role", "must be one of owner, editor, viewer");
        if (!errors.IsEmpty)
            return errors.ToProblem();
        var userId = request.UserId!.Value;

        return await dataSource.InTransactionAsync<Results<Created<ProjectMemberResponse>, ProblemHttpResult>>(async (connection, transaction) =>
        {
            var project = await ProjectRules.LockAsync(connection, transaction, id, caller, includeDeleted: false, cancellationToken);
            if (project is null)
                return Problems.NotFound("No such project.");
            if (!ProjectAccess.Allows(caller, project.CallerRole, ProjectRoles.Owner))
                return Problems.Forbidden("Only the project's owners may add members.");
            if (!await connection.ExecuteScalarAsync<bool>(UserExistsSql, new { userId, cancellationToken }, transaction))
            {
                errors.Add("user_id", "is not a known user");
                return errors.ToProblem();
            }
            var member = await connection.QuerySingleOrDefaultAsync<ProjectMemberRow>(InsertSql, new
            {
                projectId = id,
                userId,
                role = request.Role,
                addedBy = caller.UserId,
                cancellationToken,
            }, transaction);
            if (member is null)
                return Problems.Conflict("The user is already a member of this project; remove them first to change their role.");
            await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("project.member_add", "project", id.ToString(),
                AuditActor.From(http, caller),
                new AuditDiff().Change("user_id", null, userId.ToString()).Change("role", null, member.Role).ToJson()),
                cancellationToken);
            return TypedResults.Created($"/api/v1/projects/{id}/members/{userId}", member.ToResponse());
        }, cancellationToken);
    }
}
