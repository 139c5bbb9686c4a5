using TaskRunner.Infrastructure.Configuration;

namespace TaskRunner.Features.Webhooks;

/// <summary>
/// This node's one account of the deliveries it is sending: each send by delivery, counted per host. The claim is given
/// this account (the statement derives each host's room from it), the in-flight gauge follows it, and shutdown waits on
/// the sends it holds. It also remembers whether work was left behind a bound, so a send that frees room asks for a look.
/// </summary>
public sealed class InFlightSends(WebhooksOptions settings, DeliveryMetrics metrics)
{
    /// <summary>What a claim may take: <see cref="Want"/> in all, and the hosts already busy with how many sends each.</summary>
    public sealed record Room(int Want, string[] BusyHosts, int[] BusyCounts);

    private readonly Lock gate = new();
    private readonly Dictionary<Guid, Task> sends = [];
    private readonly Dictionary<string, int> perHost = new(StringComparer.Ordinal);
    private readonly HashSet<string> hostsBehindBound = new(StringComparer.Ordinal);
    private bool behindNodeBound;

    /// <summary>The room for a claim now, or null when the node is at its bound.</summary>
    public Room? Free()
    {
        lock (gate)
        {
            var want = settings.MaxInFlight - sends.Count;
            behindNodeBound = want <= 0;
            return want <= 0 ? null : new Room(want, [.. perHost.Keys], [.. perHost.Values]);
        }
    }

    /// <summary>
    /// Starts a send of each delivery claimed in <paramref name="room"/>. <paramref name="send"/> must yield before anything
    /// else, so its <see cref="End"/> (under this lock) comes after it is added.
    /// </summary>
    public void Start(Room room, IReadOnlyList<ClaimedDelivery> claimed, Func<ClaimedDelivery, Task> send)
    {
        lock (gate)
        {
            foreach (var delivery in claimed)
            {
                perHost[delivery.Host] = perHost.GetValueOrDefault(delivery.Host) + 1;
                metrics.Started();
                sends[delivery.Id] = send(delivery);
            }
            // Work may be waiting behind a bound: the node's, when the claim got all it asked for; a host's, when the claim got
            // all the room that host had (judged against the counts the claim was given: sends ending meanwhile do not hide it).
            behindNodeBound = claimed.Count == room.Want;
            foreach (var group in claimed.GroupBy(delivery => delivery.Host))
            {
                var busy = Array.IndexOf(room.BusyHosts, group.Key) is var index and >= 0 ? room.BusyCounts[index] : 0;
                if (group.Count() >= settings.MaxInFlightPerHost - busy)
                    hostsBehindBound.Add(group.Key);
            }
        }
    }

    /// <summary>Ends a send. True when it freed room that work left behind a bound waits for.</summary>
    public bool End(ClaimedDelivery delivery)
    {
        lock (gate)
        {
            metrics.Ended();
            sends.Remove(delivery.Id);
            var left = --perHost[delivery.Host];
            if (left == 0)
                perHost.Remove(delivery.Host);
            // Once half the room is free, not at every single send: one claim then fetches a batch.
            return (left <= settings.MaxInFlightPerHost / 2 && hostsBehindBound.Remove(delivery.Host))
                || (behindNodeBound && sends.Count <= settings.MaxInFlight / 2);
        }
    }

    /// <summary>The sends under way now.</summary>
    public Task[] Pending()
    {
        lock (gate)
            return [.. sends.Values];
    }
}
