using System.Collections.Concurrent;

namespace TaskRunner.Infrastructure.Observability;

/// <summary>
/// The values one metric label may take on this node: the first <c>limit</c> distinct values seen are reported as
/// themselves, every later one as <see cref="Other"/>. Each distinct value is a time series in every scrape for the life
/// of the process, so a label fed by clients (task kinds, webhook hosts) must be bounded.
/// </summary>
public sealed class BoundedLabel(int limit)
{
    public const string Other = "other";

    private readonly ConcurrentDictionary<string, bool> admitted = new(StringComparer.Ordinal);
    private readonly Lock gate = new();

    public string Of(string value)
    {
        if (admitted.ContainsKey(value))
            return value;
        lock (gate)
        {
            if (admitted.ContainsKey(value))
                return value;
            if (admitted.Count >= limit)
                return Other;
            admitted[value] = true;
            return value;
        }
    }
}
