using System.Globalization;

namespace TaskRunner.Tests.Harness;

/// <summary>Reads the service's Prometheus exposition as a test observes it: one scrape of /metrics.</summary>
public static class MetricsScrape
{
    /// <summary>The sum of every sample of <paramref name="series"/> (all label sets); 0 when it is not exposed yet.</summary>
    public static async Task<double> SumAsync(HttpClient client, string series) =>
        (await client.GetStringAsync("/metrics")).Split('\n')
            .Where(line => line.StartsWith(series + "{", StringComparison.Ordinal) || line.StartsWith(series + " ", StringComparison.Ordinal))
            .Sum(line => double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));
}
