using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Features.Tasks;
using TaskRunner.Features.Tasks.CreateTasks;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Workflows;

/// <summary>A run of a workflow: <see cref="Version"/> (default: the workflow's default version) with these parameters.</summary>
public sealed record StartWorkflowRunRequest(int? Version, JsonElement? Params);

/// <summary>A started run: its batch of tasks (in definition order, for_each copies in item order) and which id each ref became.</summary>
public sealed record WorkflowRunResponse(
    Guid Id,
    Guid WorkflowId,
    int Version,
    Guid BatchId,
    RawJson Params,
    Guid CreatedBy,
    IReadOnlyList<TaskResponse> Tasks,
    IReadOnlyDictionary<string, Guid> Refs);

/// <summary>
/// POST /workflows/{id}/runs: project editors start a run. The parameters are checked against the version's schema
/// (422 under <c>params.*</c>), the DAG is rendered and created through the bulk-create path as one batch, in one
/// transaction with the run row and its audit row (201, the batch id also in <c>X-Batch-ID</c>). Task refs are the
/// definition's keys; a for_each task's copies are <c>key[0]</c>, <c>key[1]</c>, …. Honours Idempotency-Key.
/// </summary>
public static class StartWorkflowRun
{
    public static async Task<Results<Created<WorkflowRunResponse>, ProblemHttpResult>> Handle(
        Guid id,
        StartWorkflowRunRequest request,
        Caller caller,
        HttpContext http,
        NpgsqlDataSource dataSource,
        IOptions<WorkflowsOptions> workflows,
        IOptions<TasksOptions> tasks,
        WorkflowMetrics metrics,
        CancellationToken cancellationToken)
    {
        if (!caller.CanWrite)
            return Problems.Forbidden("Viewers cannot start workflow runs.");
        var errors = new ValidationErrors();
        JsonObject? given = null;
        if (request.Params is { ValueKind: JsonValueKind.Object } element)
            given = JsonObject.Create(element);
        else if (request.Params is { ValueKind: not JsonValueKind.Null })
            errors.Add("params", "must be an object of parameter values");
        if (request.Version is < 1)
            errors.Add("version", "must be 1 or more");
        if (!errors.IsEmpty)
            return errors.ToProblem();

        PreparedRun? run;
        WorkflowRow workflow;
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            var (found, problem) = await WorkflowAccess.FindAsync(connection, null, caller, id, ProjectRoles.Editor,
                includeDeleted: false, forUpdate: false, cancellationToken);
            if (problem is not null)
                return problem;
            workflow = found!;
            run = await WorkflowRuns.PrepareAsync(connection, null, id, workflow.ProjectId, request.Version ?? workflow.DefaultVersion, given,
                workflows.Value, tasks.Value, errors, cancellationToken);
        }
        if (run is null)
            return errors.ToProblem();

        var batchId = Ids.New();
        var actor = AuditActor.From(http, caller);
        var batch = await CreateTasks.CreateBatchAsync(dataSource, actor, caller, run.Plan, batchId,
            (connection, transaction) => WorkflowRuns.RecordAsync(connection, transaction, id, run, batchId, caller.UserId, actor, cancellationToken),
            cancellationToken);
        if (batch.Problem is { } refused)
            return refused;
        metrics.RunStarted(workflow.Name);
        http.Response.Headers["X-Batch-ID"] = batchId.ToString();
        return TypedResults.Created($"/api/v1/batches/{batchId}", new WorkflowRunResponse(
            run.RunId, id, run.Version, batchId, new RawJson(run.ParamsJson), caller.UserId, batch.Tasks, batch.Refs));
    }
}
