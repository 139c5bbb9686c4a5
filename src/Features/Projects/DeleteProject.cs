using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Features.Execution;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Projects;

/// <summary>
/// Owners (and admins) soft-delete a project together with its live tasks, all stamped with the same <c>deleted_at</c>
/// so that a restore brings back exactly those tasks. Admins may instead delete permanently (<c>permanent=true</c>), which
/// removes the project, its members and tasks (foreign keys cascade), deleted or not. <c>If-Match</c> is honoured. A
/// delete or restore cascade still walking in the project is finished first, so its tasks all carry its timestamp.
/// </summary>
public static class DeleteProject
{
    private const string SoftDeleteSql = """
        UPDATE projects SET deleted_at = now()
        WHERE id = @id AND version = @version AND deleted_at IS NULL
        RETURNING deleted_at
        """;

    /// <summary>The tasks deleted with the project carry its timestamp; tasks deleted before keep theirs.</summary>
    private const string SoftDeleteTasksSql = """
        UPDATE tasks SET deleted_at = @deletedAt
        WHERE project_id = @id AND deleted_at IS NULL
        """;

    private const string PermanentDeleteSql = """
        DELETE FROM projects WHERE id = @id AND version = @version
        """;

    public static async Task<Results<NoContent, ProblemHttpResult>> Handle(
        Guid id,
        [FromQuery(Name = "permanent")] string? permanent,
        Caller caller,
        HttpContext http,
        NpgsqlDataSource dataSource,
        IOptions<EngineOptions> options,
        EngineMetrics metrics,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var isPermanent = ProjectRules.Flag(permanent, "permanent", errors);
        if (!errors.IsEmpty)
            return errors.ToQueryProblem();

        return await GraphWalks.AfterCascadesAsync<Results<NoContent, ProblemHttpResult>>(dataSource, async (connection, transaction, cascades) =>
        {
            var project = await ProjectRules.LockAsync(connection, transaction, id, caller, includeDeleted: isPermanent, cancellationToken);
            if (project is null)
                return Problems.NotFound("No such project.");
            if (isPermanent && !caller.IsAdmin)
                return Problems.Forbidden("Only admins may delete a project permanently.");
            if (!ProjectAccess.Allows(caller, project.CallerRole, ProjectRoles.Owner))
                return Problems.Forbidden("Only the project's owners may delete it.");
            if (!ProjectRules.Matches(http.Request, project.Version))
                return ETags.PreconditionFailed();
            await cascades.WaitForProjectAsync(id);

            var actor = AuditActor.From(http, caller);
            if (isPermanent)
            {
                await connection.ExecuteAsync(PermanentDeleteSql, new { id, version = project.Version, cancellationToken }, transaction);
                await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("project.delete", "project", id.ToString(), actor,
                    new AuditDiff().Change("name", project.Name, null).Change("permanent", false, true).ToJson()), cancellationToken);
                return TypedResults.NoContent();
            }

            var deletedAt = await connection.QuerySingleAsync<DateTime>(SoftDeleteSql,
                new { id, version = project.Version, cancellationToken }, transaction);
            var tasks = await connection.ExecuteAsync(SoftDeleteTasksSql, new { id, deletedAt, cancellationToken }, transaction);
            await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("project.delete", "project", id.ToString(), actor,
                new AuditDiff().Change("deleted_at", null, deletedAt).Change("tasks_deleted", 0, tasks).ToJson()), cancellationToken);
            return TypedResults.NoContent();
        }, options.Value, metrics, cancellationToken);
    }
}
