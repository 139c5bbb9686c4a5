using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text.Json;
using Cronos;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using System.Text.Json.Nodes;
using TaskRunner.Features.Tasks.CreateTasks;
using TaskRunner.Features.Workflows;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Cluster;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Events;
using TaskRunner.Infrastructure.Hosting;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Observability;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Schedules;

/// <summary>
/// Creates the tasks of due schedules, exactly once per schedule and fire time. Each schedule is handled in one
/// transaction: every fire time is claimed by inserting its <c>schedule_fires</c> row (ON CONFLICT DO NOTHING), and only
/// the transaction whose insert went in creates the task, through the same plan and inserts as POST /tasks — or, for a
/// workflow schedule, the run, through the same preparation and batch create as POST /workflows/{id}/runs. Two nodes
/// racing, or a new leader repeating a tick, find the row taken and do nothing; the primary key decides.
/// <para>A workflow fire whose workflow was deleted, whose parameters no longer validate or whose run is refused (the
/// schedule's creator lost the editor role) is recorded as skipped (reason <c>invalid_workflow</c>).</para>
/// <para>Overlap policy: <c>skip</c> records a fire as skipped (reason <c>overlap</c>, metric
/// <c>taskrunner.schedules.skipped_fires</c>) while the task of the previous created fire (for a workflow schedule: any
/// task of its run's batch) is unfinished (pending, paused or running); <c>allow</c> creates it anyway.</para>
/// <para>Catch-up: after downtime, fire times within the schedule's <c>catch_up_seconds</c> before now are each fired
/// (subject to the overlap policy); older ones are recorded as skipped (reason <c>missed</c>), the most recent
/// <see cref="SchedulesOptions.MaxMissedFiresRecorded"/> of them, and never fired.</para>
/// </summary>
public sealed partial class Scheduler : IDisposable
{
    private const int DueBatchSize = 100;
    private const int MaxPasses = 100;

    private const string DueSql = """
        SELECT s.id
        FROM schedules s
        JOIN projects p ON p.id = s.project_id AND p.deleted_at IS NULL
        WHERE s.next_fire_at <= now() AND s.enabled AND s.deleted_at IS NULL
        ORDER BY s.next_fire_at
        LIMIT @limit
        """;

    // Read again inside the schedule's transaction: no lock, the fire rows decide; version guards the advance.
    private const string ScheduleSql = """
        SELECT s.id, s.project_id, s.created_by, s.cron, s.timezone, s.task_template::text AS task_template,
               s.workflow_id, s.workflow_version, s.workflow_params::text AS workflow_params,
               w.default_version AS workflow_default_version,
               s.overlap_policy, s.catch_up_seconds, s.next_fire_at, s.version, now() AS now
        FROM schedules s
        JOIN projects p ON p.id = s.project_id AND p.deleted_at IS NULL
        LEFT JOIN workflows w ON w.id = s.workflow_id AND w.deleted_at IS NULL
        WHERE s.id = @id AND s.next_fire_at <= now() AND s.enabled AND s.deleted_at IS NULL
        """;

    // Whether the task (or a task of the batch) of the schedule's latest created fire is unfinished (deleted counts as finished).
    private const string PreviousUnfinishedSql = """
        SELECT coalesce((
            SELECT CASE WHEN f.batch_id IS NULL
                        THEN t.deleted_at IS NULL AND t.status IN ('pending', 'paused', 'running')
                        ELSE EXISTS (SELECT FROM tasks b
                                     WHERE b.batch_id = f.batch_id AND b.deleted_at IS NULL
                                       AND b.status IN ('pending', 'paused', 'running')) END
            FROM schedule_fires f
            LEFT JOIN tasks t ON t.id = f.task_id
            WHERE f.schedule_id = @scheduleId AND f.status = 'created'
            ORDER BY f.fire_time DESC
            LIMIT 1), false)
        """;

    private const string ClaimFireSql = """
        INSERT INTO schedule_fires (schedule_id, fire_time, status, reason, task_id, batch_id)
        VALUES (@scheduleId, @fireTime, @status, @reason, @taskId, @batchId)
        ON CONFLICT (schedule_id, fire_time) DO NOTHING
        """;

    // A claimed workflow fire whose run the batch create refused: its claim stays, as a failure.
    private const string RefuseFireSql = """
        UPDATE schedule_fires SET status = 'skipped', reason = 'invalid_workflow', batch_id = NULL
        WHERE schedule_id = @scheduleId AND fire_time = @fireTime
        """;

    // Guarded by version: a concurrent edit (which recomputed next_fire_at) or another node's advance wins.
    private const string AdvanceSql = """
        UPDATE schedules SET next_fire_at = @nextFireAt, last_fire_at = greatest(last_fire_at, @lastFireAt)
        WHERE id = @id AND version = @version
        """;

    private const string SecondsToNextSql = """
        SELECT extract(epoch FROM min(s.next_fire_at) - now())::float8
        FROM schedules s
        JOIN projects p ON p.id = s.project_id AND p.deleted_at IS NULL
        WHERE s.next_fire_at IS NOT NULL AND s.enabled AND s.deleted_at IS NULL
        """;

    public sealed record DueSchedule(
        Guid Id, Guid ProjectId, Guid CreatedBy, string Cron, string Timezone, string? TaskTemplate, Guid? WorkflowId,
        int? WorkflowVersion, string? WorkflowParams, int? WorkflowDefaultVersion, string OverlapPolicy, int CatchUpSeconds,
        DateTime NextFireAt, long Version, DateTime Now);

    /// <summary>What one schedule's transaction did; metrics are recorded only once it committed.</summary>
    private sealed record FireOutcome(
        bool Advanced, int Created, int Overlapped, int Missed, int Invalid, int InvalidWorkflow, List<double> LagSeconds, List<string> RunsOf)
    {
        public static FireOutcome Nothing => new(false, 0, 0, 0, 0, 0, [], []);
    }

    /// <summary>What one fire created: its tasks, and the name of the workflow whose run it started (null for a task fire).</summary>
    private sealed record Fired(int Tasks, string? Workflow);

    private readonly NpgsqlDataSource dataSource;
    private readonly SchedulesOptions options;
    private readonly IOptions<TasksOptions> tasks;
    private readonly IOptions<WorkflowsOptions> workflows;
    private readonly WorkflowMetrics workflowMetrics;
    private readonly ILogger<Scheduler> logger;
    private readonly WakeSignal wake = new();
    private readonly IDisposable subscription;
    private readonly Counter<long> created;
    private readonly Counter<long> skipped;
    private readonly Histogram<double> lag;

    public Scheduler(
        NpgsqlDataSource dataSource, IOptions<SchedulesOptions> options, IOptions<TasksOptions> tasks,
        IOptions<WorkflowsOptions> workflows, WorkflowMetrics workflowMetrics, NotificationBus bus, IMeterFactory meters,
        ILogger<Scheduler> logger)
    {
        this.dataSource = dataSource;
        this.options = options.Value;
        this.tasks = tasks;
        this.workflows = workflows;
        this.workflowMetrics = workflowMetrics;
        this.logger = logger;
        // A schedule changed on any node wakes the leader's loop; a change that may have been missed, too (it looks again).
        subscription = bus.Subscribe(Channels.Schedules, _ => wake.Wake(), wake.Wake);
        var meter = meters.Create(Telemetry.ServiceName);
        created = meter.CreateCounter<long>("taskrunner.schedules.created_tasks", "{task}", "Tasks created by cron schedules");
        skipped = meter.CreateCounter<long>("taskrunner.schedules.skipped_fires", "{fire}",
            "Fire times recorded without a task, by reason: overlap, missed (older than the catch-up window), invalid_template, invalid_workflow");
        lag = meter.CreateHistogram<double>("taskrunner.schedules.fire_lag", "s", "Time from a fire time to the creation of its task");
    }

    private const string NotifyChangedSql = "SELECT pg_notify('" + Channels.Schedules + "', '')";

    /// <summary>
    /// Wakes the leader's loop, on whichever node it runs, when <paramref name="transaction"/> (which changed a schedule)
    /// commits.
    /// </summary>
    public static Task NotifyChangedAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken) =>
        connection.ExecuteAsync(NotifyChangedSql, new { cancellationToken }, transaction);

    /// <summary>Completes when a schedule changes anywhere; take it before a tick, so a change during the tick is not missed.</summary>
    public Task NextWake => wake.Next;

    /// <summary>
    /// Handles every due schedule (each as often as its backlog needs) and returns how many tasks it created. Safe on any
    /// number of nodes at once; the leader runs it, tests call it directly.
    /// </summary>
    public async Task<int> RunDueAsync(CancellationToken cancellationToken)
    {
        var total = 0;
        var failed = new HashSet<Guid>();
        for (var pass = 0; pass < MaxPasses; pass++)
        {
            List<Guid> due;
            await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
                due = (await connection.QueryAsync<Guid>(DueSql, new { limit = DueBatchSize, cancellationToken })).ToList();
            due.RemoveAll(failed.Contains);
            var progressed = false;
            foreach (var id in due)
            {
                // Each fire is a trace of its own, and the tasks it creates keep it as their creator's trace.
                using var span = Tracing.Source.StartActivity("schedule.fire");
                span?.SetTag("taskrunner.schedule_id", id.ToString());
                try
                {
                    var outcome = await FireAsync(id, cancellationToken);
                    span?.SetTag("taskrunner.tasks_created", outcome.Created);
                    Record(outcome);
                    total += outcome.Created;
                    progressed |= outcome.Advanced;
                }
                catch (Exception e) when (!cancellationToken.IsCancellationRequested)
                {
                    // One broken schedule (whatever breaks it) must not stop the others; it is tried again at the next tick.
                    failed.Add(id);
                    span?.SetStatus(ActivityStatusCode.Error, e.Message);
                    LogScheduleFailed(logger, id, e.Message);
                }
            }
            if (!progressed)
                break;
        }
        return total;
    }

    /// <summary>
    /// How long until the next fire time, at most <see cref="SchedulesOptions.PollSeconds"/>; a schedule still due after a
    /// tick (failing, or held by a racing node) is looked at again after the poll interval rather than in a tight loop.
    /// </summary>
    public async Task<TimeSpan> DelayUntilNextAsync(CancellationToken cancellationToken)
    {
        var poll = TimeSpan.FromSeconds(options.PollSeconds);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var seconds = await connection.ExecuteScalarAsync<double?>(SecondsToNextSql, new { cancellationToken });
        if (seconds is not { } next || next <= 0)
            return poll;
        // A few milliseconds late rather than early, so the database's clock agrees the schedule is due.
        var delay = TimeSpan.FromSeconds(next) + TimeSpan.FromMilliseconds(5);
        return delay < poll ? delay : poll;
    }

    private Task<FireOutcome> FireAsync(Guid id, CancellationToken cancellationToken) =>
        dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            var schedule = await connection.QuerySingleOrDefaultAsync<DueSchedule>(ScheduleSql, new { id, cancellationToken }, transaction);
            if (schedule is null)
                return FireOutcome.Nothing;
            if (ScheduleRules.FindZone(schedule.Timezone) is not { } zone)
            {
                // Validated when saved: only a node without the time zone database gets here.
                LogUnknownZone(logger, schedule.Id, schedule.Timezone);
                return FireOutcome.Nothing;
            }
            var cron = ScheduleRules.Parse(schedule.Cron);
            var plan = ScheduleRules.PlanFires(cron, zone, schedule.NextFireAt, schedule.Now, schedule.CatchUpSeconds,
                options.MaxFiresPerTick, options.MaxMissedFiresRecorded);

            int overlapped = 0, missed = 0, invalid = 0, invalidWorkflow = 0, createdTasks = 0;
            var lags = new List<double>();
            var runsOf = new List<string>();
            DateTime? lastHandled = null;
            foreach (var fire in plan.Missed)
            {
                missed += await ClaimAsync(connection, transaction, schedule.Id, fire, "skipped", "missed", null, cancellationToken);
                lastHandled = fire;
            }

            var previousUnfinished = schedule.OverlapPolicy == ScheduleRules.Skip
                && await connection.ExecuteScalarAsync<bool>(PreviousUnfinishedSql, new { scheduleId = schedule.Id, cancellationToken }, transaction);
            foreach (var fire in plan.Due)
            {
                lastHandled = fire;
                if (previousUnfinished)
                {
                    overlapped += await ClaimAsync(connection, transaction, schedule.Id, fire, "skipped", "overlap", null, cancellationToken);
                    continue;
                }
                var fired = schedule.WorkflowId is { } workflowId
                    ? await StartRunAsync(connection, transaction, schedule, workflowId, fire, cancellationToken)
                    : await CreateTaskAsync(connection, transaction, schedule, fire, cancellationToken);
                if (fired is null)
                {
                    if (schedule.WorkflowId is null)
                        invalid++;
                    else
                        invalidWorkflow++;
                    continue;
                }
                if (fired.Tasks == 0)
                    continue; // another node has this fire time
                createdTasks += fired.Tasks;
                if (fired.Workflow is { } name)
                    runsOf.Add(name);
                lags.Add((schedule.Now - fire).TotalSeconds);
                previousUnfinished = schedule.OverlapPolicy == ScheduleRules.Skip;
            }

            var advanced = await connection.ExecuteAsync(AdvanceSql, new
            {
                id = schedule.Id,
                version = schedule.Version,
                nextFireAt = plan.Next,
                lastFireAt = lastHandled,
                cancellationToken,
            }, transaction) == 1;
            return new FireOutcome(advanced, createdTasks, overlapped, missed, invalid, invalidWorkflow, lags, runsOf);
        }, cancellationToken);

    private static async Task<int> ClaimAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid scheduleId, DateTime fireTime, string status, string? reason,
        Guid? taskId, CancellationToken cancellationToken, Guid? batchId = null) =>
        await connection.ExecuteAsync(ClaimFireSql, new { scheduleId, fireTime, status, reason, taskId, batchId, cancellationToken }, transaction);

    /// <summary>
    /// Starts the schedule's workflow run for this fire, as POST /workflows/{id}/runs by the schedule's creator would: one
    /// task-less fire row records the batch. Null (the fire recorded as invalid_workflow) when the workflow is deleted, the
    /// parameters no longer pass, or the batch create refuses the run; no tasks when another node has this fire time.
    /// </summary>
    private async Task<Fired?> StartRunAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, DueSchedule schedule, Guid workflowId, DateTime fireTime,
        CancellationToken cancellationToken)
    {
        PreparedRun? run = null;
        var errors = new ValidationErrors();
        if (schedule.WorkflowDefaultVersion is { } defaultVersion)
            run = await WorkflowRuns.PrepareAsync(connection, transaction, workflowId, schedule.ProjectId,
                schedule.WorkflowVersion ?? defaultVersion, JsonNode.Parse(schedule.WorkflowParams ?? "{}") as JsonObject,
                workflows.Value, tasks.Value, errors, cancellationToken);
        else
            errors.Add("workflow.workflow_id", "the workflow was deleted");
        if (run is null)
        {
            LogInvalidWorkflow(logger, schedule.Id, errors.Describe());
            await ClaimAsync(connection, transaction, schedule.Id, fireTime, "skipped", "invalid_workflow", null, cancellationToken);
            return null;
        }
        var batchId = Ids.New();
        if (await ClaimAsync(connection, transaction, schedule.Id, fireTime, "created", null, null, cancellationToken, batchId) == 0)
            return new Fired(0, null);
        var creator = new Caller(schedule.CreatedBy, Roles.Member, null, null);
        var actor = new AuditActor(null, null, null, null);
        var batch = await CreateTasks.CreateBatchInTransactionAsync(connection, transaction, actor, creator, run.Plan, batchId, cancellationToken);
        if (batch.Problem is not null)
        {
            // Refused before anything was written (the creator's role, an assignee): the fire is a failure, not a retry.
            LogInvalidWorkflow(logger, schedule.Id, "the run was refused: " + (batch.Problem.ProblemDetails.Detail ?? batch.Problem.ProblemDetails.Title));
            await connection.ExecuteAsync(RefuseFireSql, new { scheduleId = schedule.Id, fireTime, cancellationToken }, transaction);
            return null;
        }
        await WorkflowRuns.RecordAsync(connection, transaction, workflowId, run, batchId, schedule.CreatedBy, actor, cancellationToken);
        return new Fired(batch.Tasks.Count, run.Name);
    }

    /// <summary>The template as the task of this fire, by the rules of POST /tasks; null (and a warning) if it no longer passes them.</summary>
    private PlannedTask? Plan(DueSchedule schedule, DateTime fireTime)
    {
        var template = JsonSerializer.Deserialize(schedule.TaskTemplate!, AppJsonContext.Default.CreateTaskRequest);
        if (template is null)
            return null;
        var errors = new ValidationErrors();
        var task = TaskPlan.BuildStandalone(ScheduleRules.Stamp(template, schedule.Id, fireTime), schedule.ProjectId, "task",
            tasks.Value.ActionDestinations(), errors);
        if (errors.IsEmpty)
            return task;
        LogInvalidTemplate(logger, schedule.Id);
        return null;
    }

    /// <summary>Creates the template's task for this fire; null (the fire recorded as invalid_template) if it no longer passes.</summary>
    private async Task<Fired?> CreateTaskAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, DueSchedule schedule, DateTime fireTime, CancellationToken cancellationToken)
    {
        if (Plan(schedule, fireTime) is not { } task)
        {
            await ClaimAsync(connection, transaction, schedule.Id, fireTime, "skipped", "invalid_template", null, cancellationToken);
            return null;
        }
        if (await ClaimAsync(connection, transaction, schedule.Id, fireTime, "created", null, task.Id, cancellationToken) == 0)
            return new Fired(0, null);
        // The schedule's creator is the task's creator; the store needs nothing else of a caller.
        var creator = new Caller(schedule.CreatedBy, Roles.Member, null, null);
        var audit = new AuditEntry("task.create", "task", task.Id.ToString(), new AuditActor(null, null, null, null),
            new AuditDiff().Change("title", null, task.Title).Change("project_id", null, task.ProjectId.ToString())
                .Change("schedule_id", null, schedule.Id.ToString()).Change("fire_time", null, fireTime).ToJson());
        _ = await TaskStore.InsertAsync(connection, transaction, creator, batchId: null, [task], audit, cancellationToken)
            ?? throw new InvalidOperationException("a scheduled task has no dedupe key, so its insert cannot conflict");
        return new Fired(1, null);
    }

    private void Record(FireOutcome outcome)
    {
        if (outcome.Created > 0)
            created.Add(outcome.Created);
        if (outcome.Overlapped > 0)
            skipped.Add(outcome.Overlapped, new KeyValuePair<string, object?>("reason", "overlap"));
        if (outcome.Missed > 0)
            skipped.Add(outcome.Missed, new KeyValuePair<string, object?>("reason", "missed"));
        if (outcome.Invalid > 0)
            skipped.Add(outcome.Invalid, new KeyValuePair<string, object?>("reason", "invalid_template"));
        if (outcome.InvalidWorkflow > 0)
            skipped.Add(outcome.InvalidWorkflow, new KeyValuePair<string, object?>("reason", "invalid_workflow"));
        foreach (var workflow in outcome.RunsOf)
            workflowMetrics.RunStarted(workflow);
        foreach (var seconds in outcome.LagSeconds)
            lag.Record(seconds);
    }

    public void Dispose() => subscription.Dispose();

    [LoggerMessage(Level = LogLevel.Warning, Message = "Schedule {schedule_id} could not fire, retrying at the next tick: {reason}")]
    private static partial void LogScheduleFailed(ILogger logger, Guid schedule_id, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Schedule {schedule_id} names time zone {timezone}, which this node does not know (no tzdata?)")]
    private static partial void LogUnknownZone(ILogger logger, Guid schedule_id, string timezone);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Schedule {schedule_id}: its task template no longer passes the task rules; the fire is skipped")]
    private static partial void LogInvalidTemplate(ILogger logger, Guid schedule_id);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Schedule {schedule_id}: its workflow run cannot start ({reason}); the fire is skipped")]
    private static partial void LogInvalidWorkflow(ILogger logger, Guid schedule_id, string reason);
}

/// <summary>The scheduler's loop on the leader: a tick, then sleep until the next fire time, a poll interval, or a wake-up.</summary>
public sealed class SchedulerService(
    LeaderElection election, BackgroundFailures failures, Scheduler scheduler, IOptions<SchedulesOptions> options)
    : LeaderOnlyService(election, failures, "scheduler")
{
    protected override async Task LeadAsync(CancellationToken leadership)
    {
        while (!leadership.IsCancellationRequested)
        {
            var delay = TimeSpan.FromSeconds(options.Value.PollSeconds);
            var wake = scheduler.NextWake;
            // A failed tick has waited its backoff already.
            if (await Guard.RunAsync(async cancellationToken =>
                {
                    await scheduler.RunDueAsync(cancellationToken);
                    delay = await scheduler.DelayUntilNextAsync(cancellationToken);
                }, leadership))
                await WakeSignal.WaitAsync(wake, delay, leadership);
        }
    }
}
