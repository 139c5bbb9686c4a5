using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Projects;

/// <summary>
/// Owners (and admins) remove a member from a live project. A project always keeps an owner: removing the last one is 409.
/// Every member change first locks the project row, so two owners removing each other at once cannot leave none.
/// </summary>
public static class RemoveProjectMember
{
    private const string RoleSql = """
        SELECT role FROM project_members WHERE project_id = @projectId AND user_id = @userId
        """;

    private const string OwnerCountSql = """
        SELECT count(*) FROM project_members WHERE project_id = @projectId AND role = 'owner'
        """;

    private const string DeleteSql = """
        DELETE FROM project_members WHERE project_id = @projectId AND user_id = @userId
        """;

    public static async Task<Results<NoContent, ProblemHttpResult>> Handle(
        Guid id,
        Guid userId,
        Caller caller,
        HttpContext http,
        NpgsqlDataSource dataSource,
        CancellationToken cancellationToken)
    {
        return await dataSource.InTransactionAsync<Results<NoContent, ProblemHttpResult>>(async (connection, transaction) =>
        {
            var project = await ProjectRules.LockAsync(connection, transaction, id, caller, includeDeleted: false, cancellationToken);
            if (project is null)
                return Problems.NotFound("No such project.");
            if (!ProjectAccess.Allows(caller, project.CallerRole, ProjectRoles.Owner))
                return Problems.Forbidden("Only the project's owners may remove members.");
            var role = await connection.QuerySingleOrDefaultAsync<string>(RoleSql, new { projectId = id, userId, cancellationToken }, transaction);
            if (role is null)
                return Problems.NotFound("The user is not a member of this project.");
            if (role == ProjectRoles.Owner
                && await connection.ExecuteScalarAsync<long>(OwnerCountSql, new { projectId = id, cancellationToken }, transaction) <= 1)
                return Problems.Conflict("A project keeps at least one owner: add another owner before removing this one.");
            await connection.ExecuteAsync(DeleteSql, new { projectId = id, userId, cancellationToken }, transaction);
            await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("project.member_remove", "project", id.ToString(),
                AuditActor.From(http, caller),
                new AuditDiff().Change("user_id", userId.ToString(), null).Change("role", role, null).ToJson()),
                cancellationToken);
            return TypedResults.NoContent();
        }, cancellationToken);
    }
}
