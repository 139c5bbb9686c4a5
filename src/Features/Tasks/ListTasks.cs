using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Tasks;

/// <summary>
/// GET /tasks: the tasks the caller may read (enforced in the query), filtered, sorted by any declared key with the id
/// breaking ties, a page at a time with keyset cursors bound to the sort and every filter. <c>q</c> narrows to the tasks
/// whose text matches (websearch syntax) without changing the order; GET /tasks/search ranks by relevance instead.
/// </summary>
public static class ListTasks
{
    /// <summary>
    /// Sorts: created_at (default, newest first), updated_at, priority, title, status and scheduled_at (nullable, nulls
    /// last both ways); each has its keyset index in migration 8, but updated_at and status, which the engine changes on
    /// every start and end: theirs are on task_states (migration 27), joined by <see cref="StatesSelectSql"/>.
    /// </summary>
    internal static readonly ListDefinition<TaskRow, TaskResponse> Definition = new(
        new SortKeys<TaskRow>("t.id", row => row.Id)
            .Timestamp("created_at", "t.created_at", row => row.CreatedAt)
            .Timestamp("updated_at", "s.updated_at", row => row.UpdatedAt)
            .Number("priority", "t.priority", row => row.Priority)
            .Text("title", "t.title", row => row.Title)
            .Text("status", "s.status", row => row.Status)
            .NullableTimestamp("scheduled_at", "t.scheduled_at", row => row.ScheduledAt)
            .DefaultSort("-created_at"),
        new ResponseFields<TaskResponse>(AppJsonContext.Default.TaskResponse));

    /// <summary>
    /// From this many matches of <c>q</c> on, the sort index with a filter finds a page within a few thousand rows; below
    /// it, reading the matches through the GIN index and sorting them is cheaper (and never a walk of the whole index).
    /// </summary>
    private const int ManyMatches = 1000;

    // The first key's bound implied by the keyset predicate, per sortable non-nullable key: (descending, ascending).
    private static readonly Dictionary<string, (string Descending, string Ascending)> LeadingBounds = new(StringComparer.Ordinal)
    {
        ["created_at"] = ("t.created_at <= @lead", "t.created_at >= @lead"),
        ["updated_at"] = ("s.updated_at <= @lead", "s.updated_at >= @lead"),
        ["priority"] = ("t.priority <= @lead", "t.priority >= @lead"),
        ["title"] = ("t.title <= @lead", "t.title >= @lead"),
        ["status"] = ("s.status <= @lead", "s.status >= @lead"),
    };

    /// <summary>The sorts whose keys live on task_states (always equal to the task's own columns: migration 27's triggers).</summary>
    private static readonly string[] StateKeys = ["updated_at", "status"];

    /// <summary>The task with its task_states row, for the sorts by <see cref="StateKeys"/>: their keyset indexes are there.</summary>
    private const string StatesSelectSql = TaskReads.SelectSql + "\nJOIN task_states s ON s.task_id = t.id";

    private static bool SortsByState(KeysetPage<TaskRow> keyset) =>
        keyset.Sort.Normalized.Split(',').Any(key => StateKeys.Contains(key.TrimStart('-'), StringComparer.Ordinal));

    /// <summary>
    /// On a page after the first, "the first key is at or beyond the cursor's value": implied by the keyset predicate, but
    /// the expanded form a mixed-direction sort needs (<c>(a &lt; x) OR (a = x AND b &gt; y) OR …</c>) does not give the
    /// planner an index range by itself, so a deep page of <c>sort=-priority,created_at</c> would read every row before it.
    /// Nullable keys are left out (the nulls after the values defeat a plain bound).
    /// </summary>
    private static void AddLeadingBound(FilteredQuery sql, KeysetPage<TaskRow> keyset)
    {
        if (keyset.After is not { } after || after[0].Kind == CursorValueKind.Null)
            return;
        var first = keyset.Sort.Normalized.Split(',')[0];
        var descending = first.StartsWith('-');
        if (!LeadingBounds.TryGetValue(descending ? first[1..] : first, out var bounds))
            return;
        var predicate = descending ? bounds.Descending : bounds.Ascending;
        _ = after[0].Kind switch
        {
            CursorValueKind.Timestamp => sql.Where(predicate, "lead", after[0].AsTimestamp()),
            CursorValueKind.Number => sql.Where(predicate, "lead", after[0].AsNumber()),
            _ => sql.Where(predicate, "lead", after[0].AsText()),
        };
    }

    public static async Task<Results<ListResult<TaskResponse>, ProblemHttpResult>> Handle(
        [AsParameters] ListTasksQuery query,
        Caller caller,
        NpgsqlDataSource dataSource,
        ListPaging paging,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var filters = TaskFilters.Parse(query, errors);
        var page = paging.Parse(query, Definition, filters.BindTo(new CursorBinding("tasks")), errors);
        if (page is null)
            return errors.ToQueryProblem();

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        // With q, the plan depends on how many tasks match (TaskFilters.CountMatchesAsync); the transaction scopes that choice.
        await using var transaction = filters.Q is null ? null : await connection.BeginTransactionAsync(cancellationToken);
        var fewMatches = false;
        if (filters.Q is { } q)
        {
            fewMatches = await filters.CountMatchesAsync(connection, caller, TaskFilters.Matches, "q", q, ManyMatches, cancellationToken) < ManyMatches;
            if (!fewMatches)
                await TaskFilters.AllowEveryScanAsync(connection, cancellationToken);
        }

        await using var command = connection.CreateCommand();
        var sql = filters.ApplyTo(new FilteredQuery(command), caller, accessAsProjectList: fewMatches);
        if (filters.Q is not null)
            sql.Where(TaskFilters.Matches, "q", filters.Q);
        AddLeadingBound(sql, page.Keyset);
        var rows = await sql.ReadPageAsync(
            SortsByState(page.Keyset) ? StatesSelectSql : TaskReads.SelectSql, page.Keyset, TaskRowReader.Read, cancellationToken);
        if (transaction is not null)
            await transaction.CommitAsync(cancellationToken);
        return page.Result(rows, row => row.ToResponse());
    }
}
