using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Workflows;

/// <summary>
/// POST /projects/{id}/workflows: project editors define a workflow (YAML or JSON, see <see cref="DefinitionBody"/>). Its
/// first version is its default. A name is unique among the project's live workflows (409). The workflow, its version and
/// the audit row commit together.
/// </summary>
public static class CreateWorkflow
{
    internal const string NameTaken = "workflows_name_idx";

    private const string InsertSql = """
        INSERT INTO workflows AS w (id, project_id, name, description, default_version, latest_version, created_by)
        VALUES (@id, @projectId, @name, @description, 1, 1, @createdBy)
        RETURNING
        """ + " " + WorkflowReads.Columns;

    internal const string InsertVersionSql = """
        INSERT INTO workflow_versions (id, workflow_id, number, definition, source, source_format, created_by)
        VALUES (@id, @workflowId, @number, @definition::jsonb, @source, @sourceFormat, @createdBy)
        """;

    private sealed record Outcome(ProblemHttpResult? Problem, WorkflowRow? Row);

    public static async Task<Results<Created<WorkflowResponse>, ProblemHttpResult>> Handle(
        Guid id,
        Caller caller,
        HttpContext http,
        NpgsqlDataSource dataSource,
        IOptions<WorkflowsOptions> workflows,
        IOptions<TasksOptions> tasks,
        CancellationToken cancellationToken)
    {
        if (!caller.CanWrite)
            return Problems.Forbidden("Viewers cannot define workflows.");
        var (compiled, problem) = await DefinitionBody.ReadAsync(http.Request, id, workflows.Value, tasks.Value, cancellationToken);
        if (problem is not null)
            return problem;

        var workflowId = Ids.New();
        Outcome outcome;
        try
        {
            outcome = await dataSource.InTransactionAsync(async (connection, transaction) =>
            {
                if (await WorkflowAccess.CheckProjectAsync(connection, transaction, caller, id, cancellationToken) is { } denied)
                    return new Outcome(denied, null);
                var row = await connection.QuerySingleAsync<WorkflowRow>(InsertSql, new
                {
                    id = workflowId,
                    projectId = id,
                    name = compiled!.Definition.Name,
                    description = compiled.Definition.Description,
                    createdBy = caller.UserId,
                    cancellationToken,
                }, transaction);
                await InsertVersionAsync(connection, transaction, workflowId, 1, compiled, caller, cancellationToken);
                await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("workflow.create", "workflow", workflowId.ToString(),
                    AuditActor.From(http, caller),
                    new AuditDiff().Change("project_id", null, id.ToString()).Change("name", null, row.Name).Change("version", null, 1).ToJson()),
                    cancellationToken);
                return new Outcome(null, row);
            }, cancellationToken);
        }
        catch (PostgresException e) when (PgErrors.IsUniqueViolation(e, NameTaken))
        {
            return Problems.Conflict("The project already has a live workflow with this name; add a version to it instead.");
        }
        if (outcome.Problem is { } failed)
            return failed;
        ETags.Set(http, outcome.Row!.Version);
        return TypedResults.Created($"/api/v1/workflows/{workflowId}", outcome.Row.ToResponse());
    }

    internal static Task InsertVersionAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid workflowId, int number, CompiledDefinition compiled, Caller caller,
        CancellationToken cancellationToken) =>
        connection.ExecuteAsync(InsertVersionSql, new
        {
            id = Ids.New(),
            workflowId,
            number,
            definition = compiled.Json,
            source = compiled.Source,
            sourceFormat = compiled.Format,
            createdBy = caller.UserId,
            cancellationToken,
        }, transaction);
}
