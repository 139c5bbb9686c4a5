using System.Collections.Concurrent;

namespace TaskRunner.Infrastructure.Security;

/// <summary>
/// A cache bounded in time and size, for state that anyone can make the service look up (credentials presented by
/// strangers): every entry expires, an expired entry is dropped when it is next read, and when the cache is full the
/// expired entries go first and, if that frees nothing, every entry goes. Memory never grows with what callers send.
/// </summary>
public sealed class ExpiringCache<TKey, TValue>(int capacity, TimeProvider clock) where TKey : notnull
{
    private readonly ConcurrentDictionary<TKey, Entry> entries = new();

    public int Count => entries.Count;

    public bool TryGet(TKey key, out TValue value)
    {
        if (entries.TryGetValue(key, out var entry))
        {
            if (clock.GetUtcNow() < entry.ExpiresAt)
            {
                value = entry.Value;
                return true;
            }
            entries.TryRemove(new KeyValuePair<TKey, Entry>(key, entry));
        }
        value = default!;
        return false;
    }

    public void Set(TKey key, TValue value, DateTimeOffset expiresAt)
    {
        if (entries.Count >= capacity && !entries.ContainsKey(key))
            MakeRoom();
        entries[key] = new Entry(value, expiresAt);
    }

    public void Remove(TKey key) => entries.TryRemove(key, out _);

    public void Clear() => entries.Clear();

    private void MakeRoom()
    {
        var now = clock.GetUtcNow();
        foreach (var entry in entries)
        {
            if (entry.Value.ExpiresAt <= now)
                entries.TryRemove(entry);
        }
        if (entries.Count >= capacity)
            entries.Clear();
    }

    private readonly record struct Entry(TValue Value, DateTimeOffset ExpiresAt);
}
