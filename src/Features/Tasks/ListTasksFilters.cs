using System.Globalization;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using TaskRunner.Features.Projects;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Tasks;

/// <summary>
/// The query string of GET /tasks and GET /tasks/search (the same filters), taken as text so every malformed value is
/// reported by name, all at once.
/// </summary>
public sealed record ListTasksQuery : IListQuery
{
    // Init properties: the request delegate generator does not compile [AsParameters] records with a primary constructor.
    [FromQuery(Name = "status")] public string? Status { get; init; }
    [FromQuery(Name = "kind")] public string? Kind { get; init; }
    [FromQuery(Name = "project_id")] public string? ProjectId { get; init; }
    [FromQuery(Name = "batch_id")] public string? BatchId { get; init; }
    [FromQuery(Name = "assignee_id")] public string? AssigneeId { get; init; }
    [FromQuery(Name = "concurrency_key")] public string? ConcurrencyKey { get; init; }
    [FromQuery(Name = "priority_min")] public string? PriorityMin { get; init; }
    [FromQuery(Name = "created_after")] public string? CreatedAfter { get; init; }
    [FromQuery(Name = "created_before")] public string? CreatedBefore { get; init; }
    [FromQuery(Name = "updated_after")] public string? UpdatedAfter { get; init; }
    [FromQuery(Name = "scheduled_after")] public string? ScheduledAfter { get; init; }
    [FromQuery(Name = "scheduled_before")] public string? ScheduledBefore { get; init; }
    [FromQuery(Name = "include_deleted")] public string? IncludeDeleted { get; init; }
    [FromQuery(Name = "q")] public string? Q { get; init; }
    [FromQuery(Name = "sort")] public string? Sort { get; init; }
    [FromQuery(Name = "fields")] public string? Fields { get; init; }
    [FromQuery(Name = "cursor")] public string? Cursor { get; init; }
    [FromQuery(Name = "limit")] public string? Limit { get; init; }
}

/// <summary>
/// The validated task filters shared by the list and the search: each present one becomes a constant predicate with a
/// typed parameter (<see cref="ApplyTo"/>) and a normalised part of the cursor binding (<see cref="BindTo"/>).
/// "After" and "before" bounds are exclusive.
/// </summary>
internal sealed record TaskFilters(
    string[]? Statuses,
    string? Kind,
    Guid? ProjectId,
    Guid? BatchId,
    Guid? AssigneeId,
    string? ConcurrencyKey,
    int? PriorityMin,
    DateTime? CreatedAfter,
    DateTime? CreatedBefore,
    DateTime? UpdatedAfter,
    DateTime? ScheduledAfter,
    DateTime? ScheduledBefore,
    bool IncludeDeleted,
    string? Q)
{
    /// <summary>Bounds a query's length: long enough for any real search, short enough to parse and rank cheaply.</summary>
    public const int MaxQueryLength = 500;

    private static readonly string[] AllStatuses =
    [
        TaskRules.Pending, TaskRules.Paused, TaskRules.Running, TaskRules.Succeeded, TaskRules.Failed, TaskRules.Cancelled,
        TaskRules.TimedOut,
    ];

    // The whitelist of predicates; the index each one uses is named in migration 8 (and 5 for project and batch). The
    // status and updated_at, which every start and end change, are indexed on task_states alone (migration 27): a
    // semi-join lets the planner either read a rare status's few rows there or probe it while walking another order.
    private const string Live = "t.deleted_at IS NULL";
    private const string ByStatus = "EXISTS (SELECT FROM task_states st WHERE st.task_id = t.id AND st.status = ANY(@statuses))";
    private const string ByKind = "t.kind = @kind";
    private const string ByProject = "t.project_id = @projectId";
    private const string ByBatch = "t.batch_id = @batchId";
    private const string ByAssignee = "t.assignee_id = @assigneeId";
    private const string ByConcurrencyKey = "t.concurrency_key = @concurrencyKey";
    private const string ByPriorityMin = "t.priority >= @priorityMin";
    private const string ByCreatedAfter = "t.created_at > @createdAfter";
    private const string ByCreatedBefore = "t.created_at < @createdBefore";
    private const string ByUpdatedAfter = "EXISTS (SELECT FROM task_states st WHERE st.task_id = t.id AND st.updated_at > @updatedAfter)";
    private const string ByScheduledAfter = "t.scheduled_at > @scheduledAfter";
    private const string ByScheduledBefore = "t.scheduled_at < @scheduledBefore";
    private const string Readable = ProjectAccess.OnTaskRow;

    /// <summary>
    /// The read rule of <see cref="ProjectAccess.OnTaskRow"/> (any membership role may read) as a list of project ids: the
    /// search's GIN index (project_id, search_vector) takes it as an index condition, which the EXISTS form is not.
    /// </summary>
    private const string ReadableProjects =
        "t.project_id = ANY(ARRAY(SELECT m.project_id FROM project_members m WHERE m.user_id = @callerId))";

    /// <summary>The full-text predicate of <c>q</c> ('english', as the generated column); websearch syntax never errors.</summary>
    public const string Matches = "t.search_vector @@ websearch_to_tsquery('english', @q)";

    /// <summary>The filters of <paramref name="query"/>; every malformed one is added to <paramref name="errors"/>.</summary>
    public static TaskFilters Parse(ListTasksQuery query, ValidationErrors errors) => new(
        ParseStatuses(query.Status, errors),
        Text(query.Kind, "kind", 100, errors),
        QueryParameters.Id(query.ProjectId, "project_id", errors),
        QueryParameters.Id(query.BatchId, "batch_id", errors),
        QueryParameters.Id(query.AssigneeId, "assignee_id", errors),
        Text(query.ConcurrencyKey, "concurrency_key", TaskRules.MaxKeyLength, errors),
        Priority(query.PriorityMin, errors),
        QueryParameters.Timestamp(query.CreatedAfter, "created_after", errors),
        QueryParameters.Timestamp(query.CreatedBefore, "created_before", errors),
        QueryParameters.Timestamp(query.UpdatedAfter, "updated_after", errors),
        QueryParameters.Timestamp(query.ScheduledAfter, "scheduled_after", errors),
        QueryParameters.Timestamp(query.ScheduledBefore, "scheduled_before", errors),
        ProjectRules.Flag(query.IncludeDeleted, "include_deleted", errors),
        SearchText(query.Q, errors));

    /// <summary>Text of <c>q</c>: 1 to <see cref="MaxQueryLength"/> characters with a letter or digit, no NUL.</summary>
    public static string? SearchText(string? value, ValidationErrors errors)
    {
        if (value is null)
            return null;
        if (value.Length is 0 or > MaxQueryLength || value.Contains('\0', StringComparison.Ordinal) || string.IsNullOrWhiteSpace(value))
        {
            errors.Add("q", $"must be 1 to {MaxQueryLength} characters, not blank, without NUL");
            return null;
        }
        return value;
    }

    /// <summary>Adds every filter, normalised (absent → null), so a cursor only continues the query it came from.</summary>
    public CursorBinding BindTo(CursorBinding binding) => binding
        .With("status", Statuses is null ? null : string.Join(",", Statuses))
        .With("kind", Kind)
        .With("project_id", ProjectId?.ToString())
        .With("batch_id", BatchId?.ToString())
        .With("assignee_id", AssigneeId?.ToString())
        .With("concurrency_key", ConcurrencyKey)
        .With("priority_min", PriorityMin?.ToString(CultureInfo.InvariantCulture))
        .With("created_after", Timestamp(CreatedAfter))
        .With("created_before", Timestamp(CreatedBefore))
        .With("updated_after", Timestamp(UpdatedAfter))
        .With("scheduled_after", Timestamp(ScheduledAfter))
        .With("scheduled_before", Timestamp(ScheduledBefore))
        .With("include_deleted", IncludeDeleted ? "true" : null)
        .With("q", Q);

    /// <summary>
    /// Adds the access rule (only tasks of projects the caller may read) and every present filter but <c>q</c>, which
    /// the list and the search each apply their own way. <paramref name="accessAsProjectList"/>: the rule as
    /// <c>project_id = ANY(…)</c>, for the search's composite GIN index; the list's keyset plans prefer the EXISTS form.
    /// </summary>
    public FilteredQuery ApplyTo(FilteredQuery query, Caller caller, bool accessAsProjectList = false)
    {
        var access = ProjectAccess.Bind(caller, ProjectRoles.Viewer);
        // An admin reads everything: leaving the rule out keeps its text (and its cost) out of the plan altogether.
        if (!access.CallerIsAdmin && accessAsProjectList)
            query.Where(ReadableProjects, "callerId", access.CallerId);
        else if (!access.CallerIsAdmin)
            query.Where(Readable, access);
        if (!IncludeDeleted)
            query.Where(Live);
        if (Statuses is not null)
            query.Where(ByStatus, "statuses", Statuses);
        if (Kind is not null)
            query.Where(ByKind, "kind", Kind);
        if (ProjectId is { } projectId)
            query.Where(ByProject, "projectId", projectId);
        if (BatchId is { } batchId)
            query.Where(ByBatch, "batchId", batchId);
        if (AssigneeId is { } assigneeId)
            query.Where(ByAssignee, "assigneeId", assigneeId);
        if (ConcurrencyKey is not null)
            query.Where(ByConcurrencyKey, "concurrencyKey", ConcurrencyKey);
        if (PriorityMin is { } priorityMin)
            query.Where(ByPriorityMin, "priorityMin", (short)priorityMin);
        if (CreatedAfter is { } createdAfter)
            query.Where(ByCreatedAfter, "createdAfter", createdAfter);
        if (CreatedBefore is { } createdBefore)
            query.Where(ByCreatedBefore, "createdBefore", createdBefore);
        if (UpdatedAfter is { } updatedAfter)
            query.Where(ByUpdatedAfter, "updatedAfter", updatedAfter);
        if (ScheduledAfter is { } scheduledAfter)
            query.Where(ByScheduledAfter, "scheduledAfter", scheduledAfter);
        if (ScheduledBefore is { } scheduledBefore)
            query.Where(ByScheduledBefore, "scheduledBefore", scheduledBefore);
        return query;
    }

    private const string CountSelect = "SELECT count(*) FROM (SELECT FROM tasks t";
    private const string CountTail = "LIMIT @countCap) matches";

    // Both on the transaction only (SET LOCAL): the next statements can reach tasks through bitmap scans alone.
    private const string BitmapScansOnlySql = "SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off";
    private const string AllScansSql = "SET LOCAL enable_seqscan = on; SET LOCAL enable_indexscan = on";

    /// <summary>
    /// How many readable tasks with these filters satisfy <paramref name="matchPredicate"/> (a full-text match), counting no
    /// further than <paramref name="cap"/>, read through the GIN index. Run in a transaction, which it leaves limited to
    /// bitmap scans: <see cref="AllowEveryScanAsync"/> lifts that.
    /// </summary>
    /// <remarks>
    /// Why: the planner estimates a rare or unknown word at thousands of matches (its statistics only know the common
    /// lexemes), so under a LIMIT it prefers walking a sort index or the table and filtering, expecting to stop early; with
    /// no match it reads everything (0.5–0.7 s on 1M tasks). Counting through the index alone costs a few heap pages, and
    /// tells the caller which plan the real query needs: few matches → keep bitmap scans only (read the matches, sort them);
    /// many → the sort index with a filter finds a page after a few rows.
    /// </remarks>
    public async Task<long> CountMatchesAsync(
        NpgsqlConnection connection, Caller caller, string matchPredicate, string parameter, string value, int cap,
        CancellationToken cancellationToken)
    {
        await using (var limit = new NpgsqlCommand(BitmapScansOnlySql, connection))
            await limit.ExecuteNonQueryAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        ApplyTo(new FilteredQuery(command), caller, accessAsProjectList: true)
            .Where(matchPredicate, parameter, value)
            .Parameter("countCap", cap)
            .Complete(CountSelect, CountTail);
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>Lifts the bitmap-only limit <see cref="CountMatchesAsync"/> set on the transaction.</summary>
    public static async Task AllowEveryScanAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var reset = new NpgsqlCommand(AllScansSql, connection);
        await reset.ExecuteNonQueryAsync(cancellationToken);
    }

    private static string[]? ParseStatuses(string? value, ValidationErrors errors)
    {
        if (value is null)
            return null;
        var statuses = value.Split(',');
        var unknown = statuses.Where(status => !AllStatuses.Contains(status, StringComparer.Ordinal)).ToList();
        if (unknown.Count > 0)
        {
            errors.Add("status", $"must be a comma-separated list of {string.Join(", ", AllStatuses)}");
            return null;
        }
        return [.. statuses.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];
    }

    private static string? Text(string? value, string name, int maxLength, ValidationErrors errors)
    {
        if (value is null)
            return null;
        if (value.Length is 0 || value.Length > maxLength || value.Contains('\0', StringComparison.Ordinal))
        {
            errors.Add(name, $"must be 1 to {maxLength} characters, without NUL");
            return null;
        }
        return value;
    }

    private static int? Priority(string? value, ValidationErrors errors)
    {
        if (value is null)
            return null;
        if (int.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var priority) && priority is >= 0 and <= 100)
            return priority;
        errors.Add("priority_min", "must be an integer from 0 to 100");
        return null;
    }

    private static string? Timestamp(DateTime? value) => value?.ToString("O", CultureInfo.InvariantCulture);
}

/// <summary>Reads a <see cref="TaskRow"/> from the columns of <see cref="TaskReads.SelectSql"/>, by name.</summary>
internal static class TaskRowReader
{
    public static TaskRow Read(NamedRow row) => new(
        row.Get<Guid>("id"), row.Get<Guid>("project_id"), row.Get<string>("title"), row.GetOrNull<string>("description"),
        row.Get<string>("kind"), row.Get<string>("status"), row.Get<short>("priority"), row.Get<string>("metadata"),
        row.Get<int?>("timeout_seconds"), row.Get<DateTime?>("scheduled_at"), row.Get<int>("max_retries"), row.Get<int>("attempt"),
        row.GetOrNull<string>("concurrency_key"), row.Get<Guid?>("batch_id"), row.GetOrNull<string>("dedupe_key"),
        row.Get<Guid?>("assignee_id"), row.Get<string>("depends_on"), row.Get<string>("actions"), row.GetOrNull<string>("output"),
        row.GetOrNull<string>("error"), row.GetOrNull<string>("cancel_reason"), row.Get<Guid>("created_by"),
        row.Get<DateTime>("created_at"), row.Get<DateTime>("updated_at"), row.Get<DateTime?>("started_at"),
        row.Get<DateTime?>("ended_at"), row.Get<DateTime?>("deleted_at"), row.Get<long>("version"), row.GetOrNull<string>("waiting_on"));
}
