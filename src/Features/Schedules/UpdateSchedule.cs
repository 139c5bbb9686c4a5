using System.Text.Json.Nodes;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Features.Webhooks;
using TaskRunner.Features.Tasks.CreateTasks;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Schedules;

/// <summary>
/// The fields to change (absent or null: unchanged). <c>task</c> replaces the whole template, <c>workflow</c> the whole
/// workflow target; either one also switches a schedule from the other kind.
/// </summary>
public sealed record UpdateScheduleRequest(
    string? Cron,
    string? Timezone,
    CreateTaskRequest? Task,
    ScheduleWorkflowRequest? Workflow,
    bool? Enabled,
    string? OverlapPolicy,
    int? CatchUpSeconds);

/// <summary>
/// PATCH /schedules/{id}: editors change a schedule while it runs. A new cron or time zone, or enabling it, recomputes
/// <c>next_fire_at</c> from now (fires missed while disabled are not caught up); disabling clears it. An <c>If-Match</c>
/// naming another version is refused (412).
/// </summary>
public static class UpdateSchedule
{
    private const string UpdateSql = """
        UPDATE schedules AS s
        SET cron = @cron, timezone = @timezone, task_template = @template::jsonb, workflow_id = @workflowId,
            workflow_version = @workflowVersion, workflow_params = @workflowParams::jsonb, enabled = @enabled,
            overlap_policy = @overlapPolicy, catch_up_seconds = @catchUpSeconds, next_fire_at = @nextFireAt
        WHERE s.id = @id
        RETURNING
        """ + " " + ScheduleReads.Columns;

    private sealed record Outcome(ProblemHttpResult? Problem, ScheduleRow? Row);

    public static async Task<Results<Ok<ScheduleResponse>, ProblemHttpResult>> Handle(
        Guid id,
        UpdateScheduleRequest request,
        Caller caller,
        HttpContext http,
        NpgsqlDataSource dataSource,
        IOptions<TasksOptions> tasks,
        IOptions<WorkflowsOptions> workflows,
        CancellationToken cancellationToken)
    {
        if (!caller.CanWrite)
            return Problems.Forbidden("Viewers cannot change schedules.");
        var errors = new ValidationErrors();
        if (request is { Cron: null, Timezone: null, Task: null, Workflow: null, Enabled: null, OverlapPolicy: null, CatchUpSeconds: null })
            errors.Add("body", "set at least one of cron, timezone, task, workflow, enabled, overlap_policy, catch_up_seconds");
        ScheduleWorkflows.CheckOneTarget(errors, request.Task is not null, request.Workflow is not null, required: false);
        var newCron = request.Cron is null ? null : ScheduleRules.Cron(errors, "cron", request.Cron);
        var newZone = request.Timezone is null ? null : ScheduleRules.TimeZone(errors, "timezone", request.Timezone);
        ScheduleRules.OverlapPolicy(errors, "overlap_policy", request.OverlapPolicy);
        ScheduleRules.CatchUpSeconds(errors, "catch_up_seconds", request.CatchUpSeconds);
        if (!errors.IsEmpty)
            return errors.ToProblem();
        var ifMatch = ETags.IfMatchVersions(http.Request);

        var outcome = await dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            var (before, problem) = await ScheduleAccess.LockForChangeAsync(connection, transaction, caller, id, cancellationToken);
            if (problem is not null)
                return new Outcome(problem, null);
            if (ifMatch is not null && !ifMatch.Contains(before!.Version))
                return new Outcome(ETags.PreconditionFailed(), null);

            var changes = new ValidationErrors();
            var template = before!.TaskTemplate;
            var target = before.WorkflowId is { } workflowId
                ? new ScheduleWorkflowTarget(workflowId, before.WorkflowVersion, before.WorkflowParams ?? "{}")
                : null;
            if (request.Task is not null)
            {
                template = ScheduleRules.Template(changes, "task", request.Task, before.ProjectId, id, tasks.Value.ActionDestinations());
                if (template is not null && before.TaskTemplate is not null)
                    template = ActionHeaders.KeepRedactedInTemplate(template, before.TaskTemplate, "task", changes);
                target = null;
            }
            else if (request.Workflow is { } workflow)
            {
                target = await ScheduleWorkflows.CheckAsync(connection, transaction, caller, before.ProjectId, workflow,
                    workflows.Value, tasks.Value, changes, cancellationToken);
                template = null;
            }
            await ScheduleAccess.CheckAssigneeAsync(connection, transaction, request.Task?.AssigneeId, changes, cancellationToken);

            var cron = newCron ?? ScheduleRules.Parse(before.Cron);
            var zone = newZone ?? ScheduleRules.FindZone(before.Timezone)!;
            var enabled = request.Enabled ?? before.Enabled;
            var timing = request.Cron is not null || request.Timezone is not null || (enabled && !before.Enabled);
            var nextFireAt = before.NextFireAt;
            if (timing)
                nextFireAt = ScheduleRules.FirstFire(changes, request.Cron is not null ? "cron" : "timezone", cron, zone);
            if (!changes.IsEmpty)
                return new Outcome(changes.ToProblem(), null);
            if (!enabled)
                nextFireAt = null;

            var after = await connection.QuerySingleAsync<ScheduleRow>(UpdateSql, new
            {
                id,
                cron = request.Cron?.Trim() ?? before.Cron,
                timezone = request.Timezone ?? before.Timezone,
                template,
                workflowId = target?.WorkflowId,
                workflowVersion = target?.Version,
                workflowParams = target?.ParamsJson,
                enabled,
                overlapPolicy = request.OverlapPolicy ?? before.OverlapPolicy,
                catchUpSeconds = request.CatchUpSeconds ?? before.CatchUpSeconds,
                nextFireAt,
                cancellationToken,
            }, transaction);
            await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("schedule.update", "schedule", id.ToString(),
                AuditActor.From(http, caller),
                new AuditDiff()
                    .Change("cron", before.Cron, after.Cron)
                    .Change("timezone", before.Timezone, after.Timezone)
                    .Change("task", ScheduleRow.RedactedTemplateNode(before.TaskTemplate), ScheduleRow.RedactedTemplateNode(after.TaskTemplate),
                        changed: !JsonNode.DeepEquals(Parse(before.TaskTemplate), Parse(after.TaskTemplate)))
                    .Change("workflow_id", before.WorkflowId?.ToString(), after.WorkflowId?.ToString())
                    .Change("workflow_version", before.WorkflowVersion, after.WorkflowVersion)
                    .Change("workflow_params", Parse(before.WorkflowParams), Parse(after.WorkflowParams))
                    .Change("enabled", before.Enabled, after.Enabled)
                    .Change("overlap_policy", before.OverlapPolicy, after.OverlapPolicy)
                    .Change("catch_up_seconds", before.CatchUpSeconds, after.CatchUpSeconds)
                    .ToJson()),
                cancellationToken);
            await Scheduler.NotifyChangedAsync(connection, transaction, cancellationToken);
            return new Outcome(null, after);
        }, cancellationToken);
        if (outcome.Problem is { } failed)
            return failed;

        ETags.Set(http, outcome.Row!.Version);
        return TypedResults.Ok(outcome.Row.ToResponse());
    }

    private static JsonNode? Parse(string? json) => json is null ? null : JsonNode.Parse(json);
}
