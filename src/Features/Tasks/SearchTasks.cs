using System.Diagnostics;
using System.Text;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Features.SearchAnalytics;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Tasks;

/// <summary>Where the query matched: title and description as HTML-escaped text with the matches in &lt;mark&gt; tags.</summary>
public sealed record TaskHighlights(string Title, string? Description);

/// <summary>A search hit: the task's fields (all, or those of <c>fields</c>), its relevance and its highlights.</summary>
public sealed record TaskSearchResponse : TaskResponse
{
    public TaskSearchResponse(TaskResponse task, double rank, TaskHighlights highlights)
        : base(task)
    {
        Rank = rank;
        Highlights = highlights;
    }

    // After the task's own fields: the serializer would otherwise write a derived type's properties first.
    [JsonPropertyOrder(1)]
    public double Rank { get; init; }

    [JsonPropertyOrder(1)]
    public TaskHighlights Highlights { get; init; }
}

/// <summary>
/// GET /tasks/search: the readable tasks matching <c>q</c> (websearch syntax: <c>"exact phrase"</c>, <c>-exclude</c>,
/// <c>or</c>) and the filters of GET /tasks, most relevant first (ts_rank_cd over the weighted vector: a title match
/// outweighs a description match), with highlighted snippets, a page at a time.
/// </summary>
/// <remarks>
/// Typo tolerance: a plain query word that occurs in no title is matched by trigram distance against the vocabulary of
/// title words (task_title_terms); when that finds close words and the exact query matches fewer than
/// <see cref="FuzzyBelow"/> tasks, the search runs "the exact query OR the corrected one", so exact hits stay on top.
/// The choice is part of the cursor binding, so every page of one search uses the same query.
/// </remarks>
public static class SearchTasks
{
    /// <summary>Fewer exact hits than this (for the caller, with its filters) lets corrected words in.</summary>
    public const int FuzzyBelow = 10;

    /// <summary>The least trigram similarity of a correction: low enough for a swapped pair of letters (delpoy → deploy).</summary>
    private const double MinSimilarity = 0.25;

    private const int MaxCorrectedWords = 8;

    /// <summary>The rank as an integer key (micro-units of ts_rank_cd), so the keyset compares exactly what it sorts.</summary>
    private const string RankKey = "round(ts_rank_cd(t.search_vector, @query::tsquery) * 1000000)::bigint";

    private const string Matches = "t.search_vector @@ @query::tsquery";

    private const string PrepareSql = """
        SELECT websearch_to_tsquery('english', @q)::text,
               (websearch_to_tsquery('english', @q) || websearch_to_tsquery('english', coalesce(@corrected, '')))::text
        """;

    // For each word no title contains, the nearest title word by trigram distance (GiST KNN on task_title_terms).
    private const string CorrectionsSql = """
        SELECT w.word, c.term
        FROM unnest(@words) AS w (word)
        CROSS JOIN LATERAL (SELECT v.term FROM task_title_terms v ORDER BY v.term <-> w.word LIMIT 1) c
        WHERE NOT EXISTS (SELECT FROM task_title_terms k WHERE k.term = w.word)
          AND similarity(c.term, w.word) >= @minSimilarity
        """;

    private const string PageSelect = "SELECT t.id, " + RankKey + " AS rank_key\nFROM tasks t";

    // The page is chosen on (rank, id) alone; only its rows are read whole and highlighted.
    private const string PageStart = "WITH page AS MATERIALIZED (\n";
    private const string PageEnd = "\n)\n" + """
        SELECT page.rank_key,
               ts_headline('english', replace(replace(replace(task.title, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
                           @query::tsquery, 'StartSel=<mark>, StopSel=</mark>, HighlightAll=true') AS title_highlight,
               CASE WHEN task.description IS NOT NULL THEN
                   ts_headline('english', replace(replace(replace(task.description, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
                               @query::tsquery, 'StartSel=<mark>, StopSel=</mark>, MaxFragments=2, MinWords=8, MaxWords=24, FragmentDelimiter=" … "')
               END AS description_highlight,
               task.*
        FROM page
        CROSS JOIN LATERAL (
        """ + TaskReads.SelectSql + """

            WHERE t.id = page.id) task
        ORDER BY page.rank_key DESC, page.id DESC
        """;

    internal sealed record SearchRow(TaskRow Task, long RankKey, string TitleHighlight, string? DescriptionHighlight)
    {
        public TaskSearchResponse ToResponse()
        {
            var task = Task.ToResponse();
            return new TaskSearchResponse(task, RankKey / 1_000_000d, new TaskHighlights(TitleHighlight, DescriptionHighlight));
        }
    }

    /// <summary>One order: relevance, most relevant first, the id breaking ties.</summary>
    internal static readonly ListDefinition<SearchRow, TaskSearchResponse> Definition = new(
        new SortKeys<SearchRow>("t.id", row => row.Task.Id)
            .Number("rank", RankKey, row => row.RankKey)
            .FixedSort("-rank"),
        new ResponseFields<TaskSearchResponse>(AppJsonContext.Default.TaskSearchResponse));

    public static async Task<Results<ListResult<TaskSearchResponse>, ProblemHttpResult>> Handle(
        [AsParameters] ListTasksQuery query,
        Caller caller,
        NpgsqlDataSource dataSource,
        ListPaging paging,
        SearchStatistics statistics,
        CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var errors = new ValidationErrors();
        if (query.Q is null)
            errors.Add("q", "is required");
        var filters = TaskFilters.Parse(query, errors);
        // Everything but the cursor is judged first: the cursor's binding depends on the query the search settles on.
        var firstPage = paging.Parse(query with { Cursor = null }, Definition, Binding(filters, corrected: null), errors);
        if (firstPage is null || filters.Q is not { } q)
            return errors.ToQueryProblem();

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var corrected = await CorrectedQueryAsync(connection, q, cancellationToken);
        var (exactQuery, widenedQuery) = await TextQueriesAsync(connection, q, corrected, cancellationToken);

        var fuzzy = false;
        PageRequest<SearchRow, TaskSearchResponse>? page;
        if (query.Cursor is null)
        {
            fuzzy = corrected is not null
                && (exactQuery.Length == 0 || await CountExactAsync(connection, caller, filters, exactQuery, cancellationToken) < FuzzyBelow);
            page = fuzzy ? paging.Parse(query, Definition, Binding(filters, corrected), errors) : firstPage;
        }
        else
        {
            page = corrected is null ? null : paging.Parse(query, Definition, Binding(filters, corrected), new ValidationErrors());
            fuzzy = page is not null;
            page ??= paging.Parse(query, Definition, Binding(filters, corrected: null), errors);
        }
        if (page is null)
            return errors.ToQueryProblem();

        var tsQuery = fuzzy ? widenedQuery : exactQuery;
        // Only stop words or punctuation ("the", "!!! & |"): nothing can match, and no index is asked.
        if (tsQuery.Length == 0)
        {
            RecordFirstPage(0);
            return page.Result([], row => row.ToResponse());
        }

        await using var command = connection.CreateCommand();
        filters.ApplyTo(new FilteredQuery(command), caller, accessAsProjectList: true)
            .Where(Matches, "query", tsQuery)
            .Complete(PageSelect, page.Keyset);
        command.CommandText = PageStart + command.CommandText + PageEnd;
        var rows = await command.ReadRowsAsync(row => new SearchRow(TaskRowReader.Read(row), row.Get<long>("rank_key"),
            row.Get<string>("title_highlight"), row.GetOrNull<string>("description_highlight")), cancellationToken);
        RecordFirstPage(rows.Count);
        return page.Result(rows, row => row.ToResponse());

        // A search is counted once, for its first page: later pages are the same search read further.
        void RecordFirstPage(int hits)
        {
            if (query.Cursor is null)
                statistics.Record(q, foundNothing: hits == 0, Stopwatch.GetElapsedTime(started));
        }
    }

    /// <summary>A new binding per parse (parsing adds the sort to it): the filters and the correction the search settled on.</summary>
    private static CursorBinding Binding(TaskFilters filters, string? corrected) =>
        filters.BindTo(new CursorBinding("tasks.search")).With("corrected", corrected);

    /// <summary>The exact query and "exact OR corrected" as tsquery text ('' when nothing is left to match).</summary>
    private static async Task<(string Exact, string Widened)> TextQueriesAsync(
        NpgsqlConnection connection, string q, string? corrected, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(PrepareSql, connection);
        command.Parameters.Add(new NpgsqlParameter<string>("q", q));
        command.Parameters.Add(new NpgsqlParameter("corrected", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)corrected ?? DBNull.Value });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (reader.GetString(0), reader.GetString(1));
    }

    /// <summary>
    /// <paramref name="q"/> with each plain word that no title contains replaced by the closest title word, or null when
    /// no word needs (or finds) a correction. Words in quotes, excluded words (<c>-word</c>) and <c>or</c> stay as typed.
    /// </summary>
    private static async Task<string?> CorrectedQueryAsync(NpgsqlConnection connection, string q, CancellationToken cancellationToken)
    {
        var words = PlainWords(q);
        if (words.Count == 0)
            return null;
        await using var command = new NpgsqlCommand(CorrectionsSql, connection);
        command.Parameters.Add(new NpgsqlParameter<string[]>("words", [.. words.Select(word => word.Lower).Distinct(StringComparer.Ordinal)]));
        command.Parameters.Add(new NpgsqlParameter<double>("minSimilarity", MinSimilarity));
        var corrections = new Dictionary<string, string>(StringComparer.Ordinal);
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
                corrections[reader.GetString(0)] = reader.GetString(1);
        }
        if (corrections.Count == 0)
            return null;

        var text = new StringBuilder(q.Length + 16);
        var position = 0;
        foreach (var (start, length, lower) in words)
        {
            if (!corrections.TryGetValue(lower, out var term))
                continue;
            text.Append(q, position, start - position).Append(term);
            position = start + length;
        }
        return text.Append(q, position, q.Length - position).ToString();
    }

    /// <summary>The words of a websearch query that are plain terms: outside quotes, not excluded, not "or", 3–40 letters.</summary>
    private static List<(int Start, int Length, string Lower)> PlainWords(string q)
    {
        var words = new List<(int, int, string)>();
        var quoted = false;
        for (var i = 0; i < q.Length && words.Count < MaxCorrectedWords;)
        {
            if (q[i] == '"')
            {
                quoted = !quoted;
                i++;
                continue;
            }
            if (!char.IsLetter(q[i]))
            {
                i++;
                continue;
            }
            var start = i;
            while (i < q.Length && char.IsLetterOrDigit(q[i]))
                i++;
            var word = q[start..i];
            var excluded = start > 0 && q[start - 1] == '-';
            if (!quoted && !excluded && word.Length is >= 3 and <= 40 && word.All(char.IsLetter)
                && !word.Equals("or", StringComparison.OrdinalIgnoreCase))
                words.Add((start, word.Length, word.ToLowerInvariant()));
        }
        return words;
    }

    /// <summary>How many readable tasks the exact query matches with the filters, counting no further than <see cref="FuzzyBelow"/>.</summary>
    private static async Task<long> CountExactAsync(
        NpgsqlConnection connection, Caller caller, TaskFilters filters, string exactQuery, CancellationToken cancellationToken)
    {
        // Its own transaction: the count leaves it limited to bitmap scans (see TaskFilters.CountMatchesAsync).
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var count = await filters.CountMatchesAsync(connection, caller, Matches, "query", exactQuery, FuzzyBelow, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return count;
    }
}
