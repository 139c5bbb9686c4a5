using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Projects;

/// <summary>
/// Owners (and admins) undo a soft delete: the project comes back with exactly the tasks deleted with it (those stamped
/// with its <c>deleted_at</c>), not the ones deleted on their own before. Restoring a project that is not deleted is 409.
/// </summary>
public static class RestoreProject
{
    private const string RestoreTasksSql = """
        UPDATE tasks SET deleted_at = NULL
        WHERE project_id = @id AND deleted_at = @deletedAt
        """;

    private const string RestoreSql = """
        UPDATE projects SET deleted_at = NULL
        WHERE id = @id AND deleted_at IS NOT NULL
        RETURNING id, name, description, created_by, created_at, updated_at, deleted_at, version
        """;

    public static async Task<Results<Ok<ProjectResponse>, ProblemHttpResult>> Handle(
        Guid id,
        Caller caller,
        HttpContext http,
        NpgsqlDataSource dataSource,
        CancellationToken cancellationToken)
    {
        return await dataSource.InTransactionAsync<Results<Ok<ProjectResponse>, ProblemHttpResult>>(async (connection, transaction) =>
        {
            var project = await ProjectRules.LockAsync(connection, transaction, id, caller, includeDeleted: true, cancellationToken);
            if (project is null)
                return Problems.NotFound("No such project.");
            if (!ProjectAccess.Allows(caller, project.CallerRole, ProjectRoles.Owner))
                return Problems.Forbidden("Only the project's owners may restore it.");
            if (project.DeletedAt is not { } deletedAt)
                return Problems.Conflict("The project is not deleted.");
            if (!ProjectRules.Matches(http.Request, project.Version))
                return ETags.PreconditionFailed();

            var tasks = await connection.ExecuteAsync(RestoreTasksSql, new { id, deletedAt, cancellationToken }, transaction);
            var restored = await connection.QuerySingleAsync<ProjectRow>(RestoreSql, new { id, cancellationToken }, transaction);
            await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("project.restore", "project", id.ToString(),
                AuditActor.From(http, caller),
                new AuditDiff().Change("deleted_at", deletedAt, null).Change("tasks_restored", 0, tasks).ToJson()),
                cancellationToken);
            ETags.Set(http, restored.Version);
            return TypedResults.Ok(restored.ToResponse());
        }, cancellationToken);
    }
}
