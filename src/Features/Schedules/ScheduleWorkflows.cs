using System.Text.Json;
using System.Text.Json.Nodes;
using Npgsql;
using TaskRunner.Features.Tasks.CreateTasks;
using TaskRunner.Features.Workflows;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Schedules;

/// <summary>
/// The workflow run a schedule starts instead of a task: <c>workflow_id</c> (a workflow of the schedule's project),
/// <c>version</c> (absent: the workflow's default version at each fire) and fixed <c>params</c>.
/// </summary>
public sealed record ScheduleWorkflowRequest([property: ApiRequired] Guid? WorkflowId, int? Version, JsonElement? Params);

/// <summary>What a schedule's workflow target is stored as.</summary>
internal sealed record ScheduleWorkflowTarget(Guid WorkflowId, int? Version, string ParamsJson);

/// <summary>Checks a schedule's workflow target when the schedule is saved, by the rules a run of it is started with.</summary>
internal static class ScheduleWorkflows
{
    /// <summary>Exactly one of a task template and a workflow; reported under <c>task</c> or <c>workflow</c>.</summary>
    public static void CheckOneTarget(ValidationErrors errors, bool hasTask, bool hasWorkflow, bool required)
    {
        if (hasTask && hasWorkflow)
            errors.Add("workflow", "give either task or workflow, not both");
        else if (required && !hasTask && !hasWorkflow)
            errors.Add("task", "is required: the task to create at each fire time (or give workflow, a workflow run to start)");
    }

    /// <summary>
    /// The target as stored, or null with 422 errors under <c>workflow.*</c>: the workflow must be one the caller may
    /// read in <paramref name="projectId"/>, and the parameters must pass the chosen (or default) version's schema, and its
    /// DAG render, exactly as POST /workflows/{id}/runs would check them now.
    /// </summary>
    public static async Task<ScheduleWorkflowTarget?> CheckAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Caller caller, Guid projectId, ScheduleWorkflowRequest request,
        WorkflowsOptions workflows, TasksOptions tasks, ValidationErrors errors, CancellationToken cancellationToken)
    {
        JsonObject given = [];
        if (request.Params is { ValueKind: JsonValueKind.Object } element)
            given = JsonObject.Create(element)!;
        else if (request.Params is { ValueKind: not JsonValueKind.Null })
            errors.Add("workflow.params", "must be an object of parameter values");
        if (request.Version is < 1)
            errors.Add("workflow.version", "must be 1 or more");
        if (request.WorkflowId is not { } workflowId)
        {
            errors.Add("workflow.workflow_id", "is required");
            return null;
        }
        if (!errors.IsEmpty)
            return null;

        var (workflow, problem) = await WorkflowAccess.FindAsync(connection, transaction, caller, workflowId, ProjectRoles.Viewer,
            includeDeleted: false, forUpdate: false, cancellationToken);
        if (problem is not null)
        {
            errors.Add("workflow.workflow_id", "no such workflow");
            return null;
        }
        if (workflow!.ProjectId != projectId)
        {
            errors.Add("workflow.workflow_id", "is not a workflow of the schedule's project");
            return null;
        }
        var runErrors = new ValidationErrors();
        var run = await WorkflowRuns.PrepareAsync(connection, transaction, workflowId, projectId, request.Version ?? workflow.DefaultVersion,
            (JsonObject)given.DeepClone(), workflows, tasks, runErrors, cancellationToken);
        foreach (var (field, message) in runErrors.Entries)
            errors.Add("workflow." + field, message);
        return run is null ? null : new ScheduleWorkflowTarget(workflowId, request.Version, given.ToJsonString());
    }
}
