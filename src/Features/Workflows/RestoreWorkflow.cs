using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Workflows;

/// <summary>
/// POST /workflows/{id}/restore: project editors undo a soft delete. 409 when the workflow is not deleted, or when a live
/// workflow of the project has taken its name meanwhile.
/// </summary>
public static class RestoreWorkflow
{
    private const string RestoreSql = """
        UPDATE workflows AS w SET deleted_at = NULL WHERE w.id = @id
        RETURNING
        """ + " " + WorkflowReads.Columns;

    public static async Task<Results<Ok<WorkflowResponse>, ProblemHttpResult>> Handle(
        Guid id, Caller caller, HttpContext http, NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        if (!caller.CanWrite)
            return Problems.Forbidden("Viewers cannot restore workflows.");
        try
        {
            return await dataSource.InTransactionAsync<Results<Ok<WorkflowResponse>, ProblemHttpResult>>(async (connection, transaction) =>
            {
                var (workflow, problem) = await WorkflowAccess.FindAsync(connection, transaction, caller, id, ProjectRoles.Editor,
                    includeDeleted: true, forUpdate: true, cancellationToken);
                if (problem is not null)
                    return problem;
                if (workflow!.DeletedAt is null)
                    return Problems.Conflict("The workflow is not deleted.");
                var restored = await connection.QuerySingleAsync<WorkflowRow>(RestoreSql, new { id, cancellationToken }, transaction);
                await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("workflow.restore", "workflow", id.ToString(),
                    AuditActor.From(http, caller), new AuditDiff().Change("deleted_at", workflow.DeletedAt, null).ToJson()), cancellationToken);
                ETags.Set(http, restored.Version);
                return TypedResults.Ok(restored.ToResponse());
            }, cancellationToken);
        }
        catch (PostgresException e) when (PgErrors.IsUniqueViolation(e, CreateWorkflow.NameTaken))
        {
            return Problems.Conflict("A live workflow of the project has taken this workflow's name meanwhile.");
        }
    }
}
