using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Features.Tasks;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Observability;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Execution;

/// <summary>The outcome of one run. A claimed task's report must carry its current <see cref="LeaseToken"/>.</summary>
public sealed record CompleteTaskRequest([property: ApiRequired] string? Status, JsonElement? Output, string? Error, long? LeaseToken);

public sealed record CompleteReportRequest([property: ApiRequired] Guid? TaskId, long? LeaseToken, [property: ApiRequired] string? Status, JsonElement? Output, string? Error);

/// <summary>Up to <see cref="CompleteTasks.MaxReports"/> reports, applied in one transaction.</summary>
public sealed record CompleteTasksRequest([property: ApiRequired] CompleteReportRequest?[]? Reports);

/// <summary>
/// One report's result: <c>ok</c> (with the task's new status, and <c>retry_at</c> when a failure goes back to pending
/// for another attempt), <c>conflict</c> (not running, or a stale lease token: nothing changed) or <c>not_found</c>.
/// </summary>
public sealed record CompleteResultResponse(Guid TaskId, string Status, string? TaskStatus, DateTime? RetryAt, string? Detail);

public sealed record CompleteTasksResponse(IReadOnlyList<CompleteResultResponse> Results);

/// <summary>
/// POST /tasks/{id}/complete and POST /tasks/complete. In one transaction: lock the reported tasks (in id order, so
/// concurrent batches do not deadlock), check each report against the task's status and current lease, then end them
/// set-based through <see cref="Lifecycle.EndAsync"/> (the path timeouts and expired leases take too): end the tasks (or
/// send failures with retries left back to pending with backoff), drop their leases, write their trigger deliveries, and
/// propagate through the graph. Freed concurrency slots need no
/// bookkeeping: limits count running tasks. The ready-task trigger NOTIFYs waiting claimers at commit.
/// </summary>
public static class CompleteTasks
{
    public const int MaxReports = 100;
    private const int MaxOutputBytes = 256 * 1024;
    private const int MaxErrorLength = 10_000;

    // Whether a task is deleted is read, not filtered: as a predicate, deleted_at IS NULL matched the partial indexes on it,
    // and on the statistics a bulk create leaves, the planner combined the key lookups with a scan of all of
    // tasks_title_prefix_idx (BitmapAnd, or a hash join), on every report (auto_explain under load/engine-bench.sh).
    private const string LockSql = """
        SELECT t.id, t.status, t.attempt, t.max_retries, t.deleted_at IS NOT NULL AS deleted, t.traceparent
        FROM tasks t
        WHERE t.id = ANY (@ids::uuid[])
          AND
        """ + ProjectAccess.OnTaskRow + """

        ORDER BY t.id
        FOR UPDATE OF t
        """;

    // After the task locks: every change of a lease's token happens under its task's lock, so this read is current.
    private const string LeasesSql = "SELECT task_id, lease_token FROM task_leases WHERE task_id = ANY (@ids::uuid[])";

    private sealed record Report(Guid TaskId, long? LeaseToken, string Status, string? Output, string? Error);

    private sealed record LockedTask(string Status, int Attempt, int MaxRetries, string? Traceparent);

    private sealed record Outcome(List<CompleteResultResponse> Results, Lifecycle.Ending Ending, TaskRow? Task);

    public static async Task<Results<Ok<TaskResponse>, ProblemHttpResult>> CompleteOne(
        Guid id, CompleteTaskRequest request, Caller caller, HttpContext http, NpgsqlDataSource dataSource,
        IOptions<EngineOptions> options, EngineMetrics metrics, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var report = Validate(errors, "", id, request.LeaseToken, request.Status, request.Output, request.Error);
        if (report is null)
            return errors.ToProblem();

        var outcome = await dataSource.InTransactionAsync(
            (connection, transaction) => ApplyAsync(connection, transaction, caller, [report], options.Value, readBack: true, cancellationToken),
            cancellationToken);
        metrics.Ended(outcome.Ending);
        await GraphWalks.FinishAsync(dataSource, outcome.Ending.Walk, options.Value, metrics, cancellationToken);
        var result = outcome.Results[0];
        if (result.Status == "not_found")
            return Problems.NotFound("No such task.");
        if (result.Status == "conflict")
            return Problems.Conflict(result.Detail!);
        ETags.Set(http, outcome.Task!.Version);
        return TypedResults.Ok(outcome.Task.ToResponse());
    }

    public static async Task<Results<Ok<CompleteTasksResponse>, ProblemHttpResult>> CompleteMany(
        CompleteTasksRequest request, Caller caller, NpgsqlDataSource dataSource, IOptions<EngineOptions> options, EngineMetrics metrics,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        if (request.Reports is not { Length: > 0 } items)
            errors.Add("reports", "is required and must hold at least one report");
        else if (items.Length > MaxReports)
            errors.Add("reports", $"must hold at most {MaxReports} reports (got {items.Length})");
        if (!errors.IsEmpty)
            return errors.ToProblem();

        var reports = new List<Report>(request.Reports!.Length);
        for (var i = 0; i < request.Reports.Length; i++)
        {
            var path = $"reports[{i}]";
            if (request.Reports[i] is not { } item)
            {
                errors.Add(path, "must be an object");
                continue;
            }
            if (item.TaskId is null)
                errors.Add(path + ".task_id", "is required");
            if (Validate(errors, path + ".", item.TaskId ?? Guid.Empty, item.LeaseToken, item.Status, item.Output, item.Error) is { } report)
                reports.Add(report);
        }
        if (!errors.IsEmpty)
            return errors.ToProblem();

        var outcome = await dataSource.InTransactionAsync(
            (connection, transaction) => ApplyAsync(connection, transaction, caller, reports, options.Value, readBack: false, cancellationToken),
            cancellationToken);
        metrics.Ended(outcome.Ending);
        await GraphWalks.FinishAsync(dataSource, outcome.Ending.Walk, options.Value, metrics, cancellationToken);
        return TypedResults.Ok(new CompleteTasksResponse(outcome.Results));
    }

    /// <summary>The engine itself reporting: a start webhook's synchronous answer. Admin rank passes the project check.</summary>
    private static readonly Caller Engine = new(Guid.Empty, Roles.Admin, null, null);

    // The attempt the webhook started, under the task's lock: a late answer for an earlier attempt changes nothing.
    private const string LockAttemptSql = "SELECT attempt FROM tasks WHERE id = @id AND status = 'running' FOR UPDATE";

    /// <summary>
    /// A start webhook answered with the outcome (synchronous completion): the same completion as POST /tasks/{id}/complete,
    /// applied only while the task still runs <paramref name="attempt"/>, and with <paramref name="leaseToken"/> (that
    /// attempt's lease, when it has one) fenced exactly like a worker's report. Returns the report's result.
    /// </summary>
    public static async Task<CompleteResultResponse> CompleteStartedAttemptAsync(
        NpgsqlDataSource dataSource, Guid taskId, int attempt, long? leaseToken, string status, JsonElement? output, string? error,
        EngineOptions options, EngineMetrics metrics, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        if (Validate(errors, "", taskId, leaseToken, status, output, error) is not { } report)
            return Conflict(taskId, TaskRules.Running,
                "The answer is not a valid report: " + errors.Describe());
        var outcome = await dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            await using (var check = new NpgsqlCommand(LockAttemptSql, connection, transaction))
            {
                check.Parameters.Add(Sql.Parameter("id", taskId));
                if (await check.ExecuteScalarAsync(cancellationToken) is not int current || current != attempt)
                    return new Outcome([Conflict(taskId, "", "The task no longer runs the attempt this webhook started.")], Lifecycle.Ending.None, null);
            }
            return await ApplyAsync(connection, transaction, Engine, [report], options, readBack: false, cancellationToken);
        }, cancellationToken);
        metrics.Ended(outcome.Ending);
        await GraphWalks.FinishAsync(dataSource, outcome.Ending.Walk, options, metrics, cancellationToken);
        return outcome.Results[0];
    }

    private static Report? Validate(ValidationErrors errors, string prefix, Guid id, long? leaseToken, string? status, JsonElement? output, string? error)
    {
        var valid = true;
        if (status is not (TaskRules.Succeeded or TaskRules.Failed))
        {
            errors.Add(prefix + "status", "must be succeeded or failed");
            valid = false;
        }
        string? outputText = null;
        if (output is { ValueKind: not JsonValueKind.Null } element)
        {
            outputText = element.GetRawText();
            if (Encoding.UTF8.GetByteCount(outputText) > MaxOutputBytes)
            {
                errors.Add(prefix + "output", $"must be at most {MaxOutputBytes} bytes of JSON");
                valid = false;
            }
            else if (!StorableJson.Check(errors, prefix + "output", element))
                valid = false;
        }
        if (error is { Length: > MaxErrorLength })
        {
            errors.Add(prefix + "error", $"must be at most {MaxErrorLength} characters");
            valid = false;
        }
        else if (error is not null && error.Contains('\0', StringComparison.Ordinal))
        {
            errors.Add(prefix + "error", "must not contain NUL characters");
            valid = false;
        }
        return valid ? new Report(id, leaseToken, status!, outputText, error) : null;
    }

    private static async Task<Outcome> ApplyAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Caller caller, List<Report> reports, EngineOptions options,
        bool readBack, CancellationToken cancellationToken)
    {
        using var span = Tracing.Source.StartActivity("engine.complete");
        var ids = reports.Select(report => report.TaskId).Distinct().ToArray();
        var (locked, leases) = await LockAsync(connection, transaction, caller, ids, cancellationToken);
        // The report may come from anywhere (a worker's own trace): the link leads back to the DAG's trace.
        span?.SetTag("taskrunner.reports", reports.Count);
        span.Link(locked.Values.Select(task => task.Traceparent));

        var results = new List<CompleteResultResponse>(reports.Count);
        var accepted = new List<(Report Report, double? RetryDelay)>();
        var seen = new HashSet<Guid>();
        foreach (var report in reports)
        {
            if (!locked.TryGetValue(report.TaskId, out var task))
                results.Add(new CompleteResultResponse(report.TaskId, "not_found", null, null, "No such task."));
            else if (!seen.Add(report.TaskId))
                results.Add(Conflict(report.TaskId, task.Status, "The task is reported more than once in this batch; only the first report counts."));
            else if (task.Status != TaskRules.Running)
                results.Add(Conflict(report.TaskId, task.Status, $"The task is {task.Status}, not running."));
            else if (leases.TryGetValue(report.TaskId, out var current) && report.LeaseToken != current)
                results.Add(Conflict(report.TaskId, task.Status, report.LeaseToken is null
                    ? "The task was claimed: its report must carry the lease token."
                    : "The lease token is not this task's current lease: the lease expired and the task was claimed again."));
            else if (!leases.ContainsKey(report.TaskId) && report.LeaseToken is not null)
                results.Add(Conflict(report.TaskId, task.Status, "The task's lease is gone: it was taken back or the task was cancelled."));
            else
            {
                var retry = report.Status == TaskRules.Failed && task.Attempt <= task.MaxRetries;
                accepted.Add((report, retry ? Backoff.Seconds(task.Attempt, options) : null));
                results.Add(new CompleteResultResponse(report.TaskId, "ok", null, null, null));
            }
        }
        if (accepted.Count == 0)
            return new Outcome(results, Lifecycle.Ending.None, null);

        var ending = await Lifecycle.EndAsync(connection, transaction,
            accepted.Select(item => new Lifecycle.End(item.Report.TaskId, item.Report.Status, item.Report.Output, item.Report.Error, item.RetryDelay)).ToList(),
            options, cancellationToken);

        var byId = ending.Ended.ToDictionary(task => task.Id);
        for (var i = 0; i < results.Count; i++)
            if (results[i].Status == "ok" && byId.TryGetValue(results[i].TaskId, out var task))
                results[i] = results[i] with { TaskStatus = task.Status, RetryAt = task.Status == TaskRules.Pending ? task.ScheduledAt : null };
        var row = readBack ? await Lifecycle.ReadAsync(connection, transaction, reports[0].TaskId, cancellationToken) : null;
        return new Outcome(results, ending, row);
    }

    private static CompleteResultResponse Conflict(Guid id, string status, string detail) => new(id, "conflict", status, null, detail);

    private static async Task<(Dictionary<Guid, LockedTask> Tasks, Dictionary<Guid, long> Leases)> LockAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Caller caller, Guid[] ids, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(connection, transaction);
        var lockTasks = Sql.Command(LockSql, Sql.Parameter("ids", ids));
        ProjectAccess.Bind(caller, ProjectRoles.Editor).AddTo(lockTasks.Parameters);
        batch.BatchCommands.Add(lockTasks);
        batch.BatchCommands.Add(Sql.Command(LeasesSql, Sql.Parameter("ids", ids)));

        var tasks = new Dictionary<Guid, LockedTask>(ids.Length);
        var leases = new Dictionary<Guid, long>(ids.Length);
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            if (!reader.GetBoolean(4))
                tasks[reader.GetGuid(0)] = new LockedTask(reader.GetString(1), reader.GetInt32(2), reader.GetInt32(3), reader.IsDBNull(5) ? null : reader.GetString(5));
        await reader.NextResultAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            leases[reader.GetGuid(0)] = reader.GetInt64(1);
        return (tasks, leases);
    }

}

/// <summary>Exponential backoff with equal jitter: attempt n waits between half and all of min(max, base·2^(n-1)).</summary>
internal static class Backoff
{
    public static double Seconds(int attempt, EngineOptions options)
    {
        var exponential = options.RetryBaseSeconds * Math.Pow(2, Math.Clamp(attempt - 1, 0, 30));
        var capped = Math.Min(options.RetryMaxSeconds, exponential);
        return capped / 2 + Random.Shared.NextDouble() * capped / 2;
    }
}

/// <summary>Typed parameters for plain Npgsql commands (arrays, batches): no boxing, no type inference at run time.</summary>
internal static class Sql
{
    public static NpgsqlBatchCommand Command(string sql, params NpgsqlParameter[] parameters)
    {
        var command = new NpgsqlBatchCommand(sql);
        command.Parameters.AddRange(parameters);
        return command;
    }

    public static NpgsqlParameter<T> Parameter<T>(string name, T value) => new(name, value);
}
