using System.Text;
using Microsoft.Extensions.Options;
using TaskRunner.Infrastructure.Configuration;

namespace TaskRunner.Features.SearchAnalytics;

/// <summary>The latency histogram of a day's searches: fixed bucket bounds, so nodes and days add up bucket by bucket.</summary>
public static class SearchLatency
{
    /// <summary>Upper bounds in milliseconds (inclusive); one more bucket counts everything slower than the last.</summary>
    public static readonly double[] BucketBoundsMs = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000];

    public static int BucketOf(double milliseconds)
    {
        var index = Array.BinarySearch(BucketBoundsMs, milliseconds);
        return index >= 0 ? index : ~index;
    }
}

/// <summary>One UTC day's searches as a node counted them since its last write.</summary>
public sealed class DayCounts(DateOnly day)
{
    public DateOnly Day { get; } = day;
    public long Searches { get; private set; }
    public long ZeroResultSearches { get; private set; }
    public double LatencyMsTotal { get; private set; }
    public long[] LatencyBuckets { get; } = new long[SearchLatency.BucketBoundsMs.Length + 1];

    /// <summary>Per normalised query: (searches, of which found nothing).</summary>
    public Dictionary<string, (long Searches, long ZeroResultSearches)> Queries { get; } = new(StringComparer.Ordinal);

    internal void Add(long searches, long zeroResultSearches, double latencyMsTotal, ReadOnlySpan<long> buckets)
    {
        Searches += searches;
        ZeroResultSearches += zeroResultSearches;
        LatencyMsTotal += latencyMsTotal;
        for (var i = 0; i < buckets.Length; i++)
            LatencyBuckets[i] += buckets[i];
    }

    /// <summary>Adds to a query's counts; false when the query is new and <paramref name="mayAddQuery"/> says no.</summary>
    internal bool AddQuery(string query, long searches, long zeroResultSearches, bool mayAddQuery)
    {
        if (Queries.TryGetValue(query, out var counts))
        {
            Queries[query] = (counts.Searches + searches, counts.ZeroResultSearches + zeroResultSearches);
            return false;
        }
        if (mayAddQuery)
            Queries[query] = (searches, zeroResultSearches);
        return mayAddQuery;
    }
}

/// <summary>
/// A node's search counts between two writes (<see cref="SearchStatisticsWriter"/>): kept in memory so that a search pays
/// for a dictionary update, not a database write. Who searched is never recorded, only what and how it went.
/// </summary>
public sealed class SearchStatistics(IOptions<SearchAnalyticsOptions> options, TimeProvider clock)
{
    /// <summary>Longer queries are cut to this many characters, as the table's check allows.</summary>
    public const int MaxQueryLength = 200;

    private readonly Lock gate = new();
    private Dictionary<DateOnly, DayCounts> days = [];
    private int distinctQueries;

    /// <summary>Counts a first page of search results: its query, whether it found nothing, and how long it took.</summary>
    public void Record(string query, bool foundNothing, TimeSpan elapsed)
    {
        if (!options.Value.Enabled || Normalize(query) is not { } normalised)
            return;
        var day = DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime);
        var milliseconds = elapsed.TotalMilliseconds;
        Span<long> bucket = stackalloc long[SearchLatency.BucketBoundsMs.Length + 1];
        bucket[SearchLatency.BucketOf(milliseconds)] = 1;
        var zero = foundNothing ? 1 : 0;
        lock (gate)
            AddLocked(day, normalised, 1, zero, milliseconds, bucket);
    }

    /// <summary>Everything counted since the last call, and a fresh start.</summary>
    public IReadOnlyList<DayCounts> TakeAll()
    {
        lock (gate)
        {
            var taken = days.Values.OrderBy(counts => counts.Day).ToList();
            days = [];
            distinctQueries = 0;
            return taken;
        }
    }

    /// <summary>Counts that could not be written go back, to be written with the next ones.</summary>
    public void PutBack(IEnumerable<DayCounts> counts)
    {
        lock (gate)
        {
            foreach (var day in counts)
            {
                Day(day.Day).Add(day.Searches, day.ZeroResultSearches, day.LatencyMsTotal, day.LatencyBuckets);
                foreach (var (query, (searches, zero)) in day.Queries)
                {
                    if (Day(day.Day).AddQuery(query, searches, zero, distinctQueries < options.Value.MaxQueriesPerFlush))
                        distinctQueries++;
                }
            }
        }
    }

    private void AddLocked(DateOnly day, string query, long searches, long zero, double latencyMs, ReadOnlySpan<long> buckets)
    {
        var counts = Day(day);
        counts.Add(searches, zero, latencyMs, buckets);
        if (counts.AddQuery(query, searches, zero, distinctQueries < options.Value.MaxQueriesPerFlush))
            distinctQueries++;
    }

    private DayCounts Day(DateOnly day)
    {
        if (!days.TryGetValue(day, out var counts))
            days[day] = counts = new DayCounts(day);
        return counts;
    }

    /// <summary>
    /// The query as it is counted: trimmed, runs of white space as one space, lower case, at most
    /// <see cref="MaxQueryLength"/> characters; null when nothing is left.
    /// </summary>
    public static string? Normalize(string query)
    {
        var text = new StringBuilder(Math.Min(query.Length, MaxQueryLength));
        var pendingSpace = false;
        foreach (var character in query)
        {
            if (char.IsWhiteSpace(character) || char.IsControl(character))
            {
                pendingSpace = text.Length > 0;
                continue;
            }
            if (pendingSpace)
                text.Append(' ');
            pendingSpace = false;
            text.Append(char.ToLowerInvariant(character));
            if (text.Length >= MaxQueryLength)
                break;
        }
        if (text.Length > MaxQueryLength)
            text.Length = MaxQueryLength;
        // Never end on half of a surrogate pair: PostgreSQL refuses invalid UTF-16 turned into UTF-8.
        if (text.Length > 0 && char.IsHighSurrogate(text[^1]))
            text.Length--;
        return text.Length == 0 ? null : text.ToString();
    }
}
