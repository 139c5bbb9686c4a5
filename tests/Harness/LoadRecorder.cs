using System.Collections.Concurrent;
using System.Diagnostics;

namespace TaskRunner.Tests.Harness;

/// <summary>One request of a fault test's load: its kind, when it started and ended on the run's clock, and how it ended
/// (an HTTP status, or 0 and the reason when no answer came).</summary>
public sealed record LoadOutcome(string Kind, TimeSpan Started, TimeSpan Ended, int Status, bool HasRetryAfter, string? Failure);

/// <summary>An answer the load generator got, for the loop that sent the request to act on.</summary>
public sealed record LoadAnswer(int Status, string Body);

/// <summary>
/// Records every request the load generators of a fault test send, so the test can assert on all of them afterwards
/// (no 500, every 503 with Retry-After, nothing failed that started before a signal) and measure recovery times.
/// </summary>
public sealed class LoadRecorder
{
    private readonly Stopwatch clock = Stopwatch.StartNew();
    private readonly ConcurrentQueue<LoadOutcome> outcomes = new();

    public TimeSpan Now => clock.Elapsed;

    public IReadOnlyCollection<LoadOutcome> Outcomes => outcomes.ToArray();

    /// <summary>Sends one request and records how it ended; null when no answer came. A request the test itself cancels
    /// (its load stopping) is not recorded.</summary>
    public async Task<LoadAnswer?> SendAsync(HttpClient client, string kind, Func<HttpRequestMessage> request, CancellationToken cancellationToken)
    {
        var started = Now;
        try
        {
            using var message = request();
            using var response = await client.SendAsync(message, cancellationToken);
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            outcomes.Enqueue(new LoadOutcome(kind, started, Now, (int)response.StatusCode, response.Headers.RetryAfter is not null, null));
            return new LoadAnswer((int)response.StatusCode, body);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return null;
        }
        catch (Exception e) when (e is HttpRequestException or IOException or OperationCanceledException)
        {
            outcomes.Enqueue(new LoadOutcome(kind, started, Now, 0, false, e.GetType().Name + ": " + e.Message));
            return null;
        }
    }

    /// <summary>A short listing of outcomes for an assertion message.</summary>
    public static string Describe(IEnumerable<LoadOutcome> outcomes) => string.Join("\n", outcomes.Take(20).Select(outcome =>
        $"{outcome.Kind} {outcome.Started.TotalSeconds:F2}s-{outcome.Ended.TotalSeconds:F2}s: {(outcome.Status == 0 ? outcome.Failure : outcome.Status.ToString(System.Globalization.CultureInfo.InvariantCulture))}"));
}
