using System.Text;
using System.Text.Json.Nodes;
using Dapper;
using Npgsql;
using TaskRunner.Features.Tasks;
using TaskRunner.Features.Tasks.CreateTasks;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Workflows;

/// <summary>The tasks a run will create and the parameters it runs with (defaults filled in), as stored on the run.</summary>
internal sealed record PreparedRun(Guid RunId, string Name, int Version, List<PlannedTask> Plan, string ParamsJson);

/// <summary>
/// Starting a run (<see cref="StartWorkflowRun"/>): the stored definition read again,
/// the parameters checked, the DAG rendered and planned — the rendered DAG is validated again at run time, whatever the
/// definition passed when it was saved — and then the run row written in the transaction that creates its batch.
/// </summary>
internal static class WorkflowRuns
{
    private const string VersionSql = """
        SELECT w.name, v.definition::text AS definition
        FROM workflow_versions v
        JOIN workflows w ON w.id = v.workflow_id
        WHERE v.workflow_id = @workflowId AND v.number = @number
        """;

    private const string InsertRunSql = """
        INSERT INTO workflow_runs (id, workflow_id, version, batch_id, params, created_by)
        VALUES (@id, @workflowId, @version, @batchId, @runParams::jsonb, @createdBy)
        """;

    internal sealed record StoredVersion(string Name, string Definition);

    /// <summary>The run of version <paramref name="number"/> with <paramref name="given"/> parameters, or null with errors filled.</summary>
    internal static async Task<PreparedRun?> PrepareAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, Guid workflowId, Guid projectId, int number, JsonObject? given,
        WorkflowsOptions workflows, TasksOptions tasks, ValidationErrors errors, CancellationToken cancellationToken)
    {
        var stored = await connection.QuerySingleOrDefaultAsync<StoredVersion>(VersionSql, new { workflowId, number, cancellationToken }, transaction);
        if (stored is null)
        {
            errors.Add("version", $"the workflow has no version {number}");
            return null;
        }
        var (document, _) = DefinitionReader.Read(Encoding.UTF8.GetBytes(stored.Definition), DefinitionDocument.Json, int.MaxValue);
        var definitionErrors = new DefinitionErrors(new ValidationErrors(), null);
        var definition = WorkflowDefinitions.Read(document!.Root, tasks.MaxBulkItems, definitionErrors);
        if (definition is null)
        {
            // Saved under rules that have since tightened (a lower bulk limit): say which, under the definition.
            foreach (var (field, message) in definitionErrors.Errors.Entries)
                errors.Add("definition." + field, message);
            return null;
        }
        var parameters = WorkflowRendering.ResolveParameters(definition, given, workflows.MaxFanOut, errors.Add);
        if (parameters is null)
            return null;
        var runId = Ids.New();
        var plan = WorkflowRendering.Plan(definition, new RenderValues(parameters, runId), projectId, tasks.MaxBulkItems,
            tasks.ActionDestinations(), errors.Add);
        if (plan is null)
            return null;
        var paramsJson = new JsonObject(parameters.Select(pair => KeyValuePair.Create(pair.Key, pair.Value?.DeepClone()))).ToJsonString();
        return new PreparedRun(runId, stored.Name, number, plan, paramsJson);
    }

    /// <summary>The run's own rows, in the transaction that creates its batch.</summary>
    internal static async Task RecordAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid workflowId, PreparedRun run, Guid batchId, Guid createdBy,
        AuditActor actor, CancellationToken cancellationToken)
    {
        await connection.ExecuteAsync(InsertRunSql, new
        {
            id = run.RunId,
            workflowId,
            version = run.Version,
            batchId,
            runParams = run.ParamsJson,
            createdBy,
            cancellationToken,
        }, transaction);
        await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("workflow.run", "workflow", workflowId.ToString(), actor,
            new AuditDiff().Change("run_id", null, run.RunId.ToString()).Change("version", null, run.Version)
                .Change("batch_id", null, batchId.ToString()).Change("tasks", null, run.Plan.Count).ToJson()),
            cancellationToken);
    }
}
