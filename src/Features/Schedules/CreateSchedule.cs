using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Features.Tasks.CreateTasks;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Schedules;

/// <summary>
/// A cron schedule: <c>task</c> is the create-task body (minus project_id) of the task created at each fire time, or
/// <c>workflow</c> names the workflow run started at each fire time (exactly one of the two).
/// <c>overlap_policy</c> (default skip) and <c>catch_up_seconds</c> (default 300) are explained on <see cref="Scheduler"/>.
/// </summary>
public sealed record CreateScheduleRequest(
    [property: ApiRequired] Guid? ProjectId,
    [property: ApiRequired] string? Cron,
    [property: ApiRequired] string? Timezone,
    CreateTaskRequest? Task,
    ScheduleWorkflowRequest? Workflow,
    bool? Enabled,
    string? OverlapPolicy,
    int? CatchUpSeconds);

/// <summary>POST /schedules: project editors create schedules; the row and its audit entry commit together.</summary>
public static class CreateSchedule
{
    private const string InsertSql = """
        INSERT INTO schedules AS s (id, project_id, created_by, cron, timezone, task_template, workflow_id, workflow_version,
                                    workflow_params, enabled, overlap_policy, catch_up_seconds, next_fire_at)
        VALUES (@id, @projectId, @createdBy, @cron, @timezone, @template::jsonb, @workflowId, @workflowVersion,
                @workflowParams::jsonb, @enabled, @overlapPolicy, @catchUpSeconds, @nextFireAt)
        RETURNING
        """ + " " + ScheduleReads.Columns;

    private sealed record Outcome(ProblemHttpResult? Problem, ScheduleRow? Row);

    public static async Task<Results<Created<ScheduleResponse>, ProblemHttpResult>> Handle(
        CreateScheduleRequest request,
        Caller caller,
        HttpContext http,
        NpgsqlDataSource dataSource,
        IOptions<TasksOptions> tasks,
        IOptions<WorkflowsOptions> workflows,
        CancellationToken cancellationToken)
    {
        if (!caller.CanWrite)
            return Problems.Forbidden("Viewers cannot create schedules.");
        var id = Ids.New();
        var errors = new ValidationErrors();
        if (request.ProjectId is null)
            errors.Add("project_id", "is required");
        var cron = ScheduleRules.Cron(errors, "cron", request.Cron);
        var zone = ScheduleRules.TimeZone(errors, "timezone", request.Timezone);
        ScheduleRules.OverlapPolicy(errors, "overlap_policy", request.OverlapPolicy);
        ScheduleRules.CatchUpSeconds(errors, "catch_up_seconds", request.CatchUpSeconds);
        ScheduleWorkflows.CheckOneTarget(errors, request.Task is not null, request.Workflow is not null, required: true);
        var template = request.Task is null
            ? null
            : ScheduleRules.Template(errors, "task", request.Task, request.ProjectId ?? Guid.Empty, id, tasks.Value.ActionDestinations());
        var enabled = request.Enabled ?? true;
        DateTime? nextFireAt = null;
        if (cron is not null && zone is not null)
        {
            var next = ScheduleRules.FirstFire(errors, "cron", cron, zone);
            nextFireAt = enabled ? next : null;
        }
        if (!errors.IsEmpty)
            return errors.ToProblem();

        var outcome = await dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            if (await ScheduleAccess.CheckCreateAsync(connection, transaction, caller, request.ProjectId!.Value, cancellationToken) is { } problem)
                return new Outcome(problem, null);
            ScheduleWorkflowTarget? target = null;
            if (request.Workflow is { } workflow)
            {
                var workflowErrors = new ValidationErrors();
                target = await ScheduleWorkflows.CheckAsync(connection, transaction, caller, request.ProjectId!.Value, workflow,
                    workflows.Value, tasks.Value, workflowErrors, cancellationToken);
                if (target is null)
                    return new Outcome(workflowErrors.ToProblem(), null);
            }
            var assigneeErrors = new ValidationErrors();
            await ScheduleAccess.CheckAssigneeAsync(connection, transaction, request.Task?.AssigneeId, assigneeErrors, cancellationToken);
            if (!assigneeErrors.IsEmpty)
                return new Outcome(assigneeErrors.ToProblem(), null);
            var row = await connection.QuerySingleAsync<ScheduleRow>(InsertSql, new
            {
                id,
                projectId = request.ProjectId!.Value,
                createdBy = caller.UserId,
                cron = request.Cron!.Trim(),
                timezone = request.Timezone!,
                template,
                workflowId = target?.WorkflowId,
                workflowVersion = target?.Version,
                workflowParams = target?.ParamsJson,
                enabled,
                overlapPolicy = request.OverlapPolicy ?? ScheduleRules.Skip,
                catchUpSeconds = request.CatchUpSeconds ?? ScheduleRules.DefaultCatchUpSeconds,
                nextFireAt,
                cancellationToken,
            }, transaction);
            await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("schedule.create", "schedule", id.ToString(),
                AuditActor.From(http, caller),
                new AuditDiff().Change("project_id", null, row.ProjectId.ToString()).Change("cron", null, row.Cron)
                    .Change("timezone", null, row.Timezone).Change("enabled", null, row.Enabled)
                    .Change("workflow_id", null, row.WorkflowId?.ToString()).ToJson()),
                cancellationToken);
            await Scheduler.NotifyChangedAsync(connection, transaction, cancellationToken);
            return new Outcome(null, row);
        }, cancellationToken);
        if (outcome.Problem is { } failed)
            return failed;

        ETags.Set(http, outcome.Row!.Version);
        return TypedResults.Created($"/api/v1/schedules/{id}", outcome.Row.ToResponse());
    }
}
