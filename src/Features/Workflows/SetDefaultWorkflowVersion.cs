using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Workflows;

/// <summary>
/// POST /workflows/{id}/versions/{number}/default: project editors choose which version runs use when
/// they name none — roll forward to a new one or back to an old one. 404 for a version that does not exist. Honours If-Match.
/// </summary>
public static class SetDefaultWorkflowVersion
{
    private const string SetSql = """
        UPDATE workflows AS w SET default_version = @number
        WHERE w.id = @id AND EXISTS (SELECT FROM workflow_versions v WHERE v.workflow_id = @id AND v.number = @number)
        RETURNING
        """ + " " + WorkflowReads.Columns;

    public static async Task<Results<Ok<WorkflowResponse>, ProblemHttpResult>> Handle(
        Guid id, int number, Caller caller, HttpContext http, NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        if (!caller.CanWrite)
            return Problems.Forbidden("Viewers cannot change workflows.");
        var ifMatch = ETags.IfMatchVersions(http.Request);
        return await dataSource.InTransactionAsync<Results<Ok<WorkflowResponse>, ProblemHttpResult>>(async (connection, transaction) =>
        {
            var (workflow, problem) = await WorkflowAccess.FindAsync(connection, transaction, caller, id, ProjectRoles.Editor,
                includeDeleted: false, forUpdate: true, cancellationToken);
            if (problem is not null)
                return problem;
            if (ifMatch is not null && !ifMatch.Contains(workflow!.Version))
                return ETags.PreconditionFailed();
            var after = await connection.QuerySingleOrDefaultAsync<WorkflowRow>(SetSql, new { id, number, cancellationToken }, transaction);
            if (after is null)
                return Problems.NotFound($"The workflow has no version {number}.");
            await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("workflow.default_version", "workflow", id.ToString(),
                AuditActor.From(http, caller), new AuditDiff().Change("default_version", workflow!.DefaultVersion, number).ToJson()),
                cancellationToken);
            ETags.Set(http, after.Version);
            return TypedResults.Ok(after.ToResponse());
        }, cancellationToken);
    }
}
