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
/// A cron schedule: <c>task</c> is the create-task body (minus project_id) of the task created at each fire time.
/// <c>overlap_policy</c> (default skip) and <c>catch_up_seconds</c> (default 300) are explained on <see cref="Scheduler"/>.
/// </summary>
public sealed record CreateScheduleRequest(
    Guid? ProjectId,
    string? Cron,
    string? Timezone,
    CreateTaskRequest? Task,
    bool? Enabled,
    string? OverlapPolicy,
    int? CatchUpSeconds);

/// <summary>POST /schedules: project editors create schedules; the row and its audit entry commit together.</summary>
public static class CreateSchedule
{
    private const string InsertSql = """
        INSERT INTO schedules AS s (id, project_id, created_by, cron, timezone, task_template, enabled, overlap_policy,
                                    catch_up_seconds, next_fire_at)
        VALUES (@id, @projectId, @createdBy, @cron, @timezone, @template::jsonb, @enabled, @overlapPolicy,
                @catchUpSeconds, @nextFireAt)
        RETURNING
        """ + " " + ScheduleReads.Columns;

    private sealed record Outcome(ProblemHttpResult? Problem, ScheduleRow? Row);

    public static async Task<Results<Created<ScheduleResponse>, ProblemHttpResult>> Handle(
        CreateScheduleRequest request,
        Caller caller,
        HttpContext http,
        NpgsqlDataSource dataSource,
        IOptions<TasksOptions> tasks,
        Scheduler scheduler,
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
        var template = ScheduleRules.Template(errors, "task", request.Task, request.ProjectId ?? Guid.Empty, id,
            tasks.Value.ActionDestinations());
        var enabled = request.Enabled ?? true;
        DateTime? nextFireAt = null;
        if (cron is not null && zone is not null)
        {
            var next = ScheduleRules.NextFire(cron, zone, DateTime.UtcNow);
            if (next is null)
                errors.Add("cron", "never fires: no date matches it");
            nextFireAt = enabled ? next : null;
        }
        if (!errors.IsEmpty)
            return errors.ToProblem();

        var outcome = await dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            if (await ScheduleAccess.CheckCreateAsync(connection, transaction, caller, request.ProjectId!.Value, cancellationToken) is { } problem)
                return new Outcome(problem, null);
            if (request.Task!.AssigneeId is { } assignee && !await ScheduleAccess.AssigneeExistsAsync(connection, transaction, assignee, cancellationToken))
            {
                var assigneeErrors = new ValidationErrors();
                assigneeErrors.Add("task.assignee_id", "no such user");
                return new Outcome(assigneeErrors.ToProblem(), null);
            }
            var row = await connection.QuerySingleAsync<ScheduleRow>(InsertSql, new
            {
                id,
                projectId = request.ProjectId!.Value,
                createdBy = caller.UserId,
                cron = request.Cron!.Trim(),
                timezone = request.Timezone!,
                template,
                enabled,
                overlapPolicy = request.OverlapPolicy ?? ScheduleRules.Skip,
                catchUpSeconds = request.CatchUpSeconds ?? ScheduleRules.DefaultCatchUpSeconds,
                nextFireAt,
                cancellationToken,
            }, transaction);
            await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("schedule.create", "schedule", id.ToString(),
                AuditActor.From(http, caller),
                new AuditDiff().Change("project_id", null, row.ProjectId.ToString()).Change("cron", null, row.Cron)
                    .Change("timezone", null, row.Timezone).Change("enabled", null, row.Enabled).ToJson()),
                cancellationToken);
            return new Outcome(null, row);
        }, cancellationToken);
        if (outcome.Problem is { } failed)
            return failed;

        scheduler.Wake();
        ETags.Set(http, outcome.Row!.Version);
        return TypedResults.Created($"/api/v1/schedules/{id}", outcome.Row.ToResponse());
    }
}
