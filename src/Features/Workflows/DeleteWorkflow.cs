using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Workflows;

/// <summary>
/// DELETE /workflows/{id}: project editors soft-delete a workflow, like a project: it disappears from lists and cannot be
/// run; its versions, runs and the tasks of its runs stay; <c>POST .../restore</c> brings it back.
/// Honours If-Match.
/// </summary>
public static class DeleteWorkflow
{
    private const string SoftDeleteSql = """
        UPDATE workflows SET deleted_at = now() WHERE id = @id AND deleted_at IS NULL RETURNING deleted_at
        """;

    public static async Task<Results<NoContent, ProblemHttpResult>> Handle(
        Guid id, Caller caller, HttpContext http, NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        if (!caller.CanWrite)
            return Problems.Forbidden("Viewers cannot delete workflows.");
        var ifMatch = ETags.IfMatchVersions(http.Request);
        return await dataSource.InTransactionAsync<Results<NoContent, ProblemHttpResult>>(async (connection, transaction) =>
        {
            var (workflow, problem) = await WorkflowAccess.FindAsync(connection, transaction, caller, id, ProjectRoles.Editor,
                includeDeleted: false, forUpdate: true, cancellationToken);
            if (problem is not null)
                return problem;
            if (ifMatch is not null && !ifMatch.Contains(workflow!.Version))
                return ETags.PreconditionFailed();
            var deletedAt = await connection.QuerySingleAsync<DateTime>(SoftDeleteSql, new { id, cancellationToken }, transaction);
            await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("workflow.delete", "workflow", id.ToString(),
                AuditActor.From(http, caller), new AuditDiff().Change("deleted_at", null, deletedAt).ToJson()), cancellationToken);
            return TypedResults.NoContent();
        }, cancellationToken);
    }
}
