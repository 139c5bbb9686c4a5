using Dapper;
using Npgsql;
using TaskRunner.Infrastructure.Database;

namespace TaskRunner.Features.Execution;

/// <summary>
/// The one way tasks start, shared by pull claims (<see cref="ClaimTasks"/>) and push dispatch (<see cref="Dispatcher"/>):
/// the readiness predicate, admission against concurrency limits, and the start itself (running, attempt, lease and
/// fencing token, <c>start</c> deliveries). The two paths are disjoint by construction: a task whose actions hold a
/// <c>start</c> trigger is pushed by the leader and never claimed; every other task is claimed and never pushed. So
/// nothing starts twice, and a task's start webhook is written exactly once per attempt.
/// <para>Limits hold across both paths and across nodes: an admission locks the key's rule row, then counts the key's
/// running tasks in a new snapshot, so it sees every start committed by whoever held the lock before.</para>
/// </summary>
internal static class TaskStarts
{
    /// <summary>The worker recorded on the lease of a pushed task.</summary>
    public const string PushWorker = "push";

    /// <summary>The lease table's upper bound on the extension a heartbeat grants.</summary>
    private const int MaxLeaseSeconds = 86_400;

    // In key order, so starters of several keys never deadlock. Held until commit: the next starter of a key counts after us.
    private const string LockRulesSql = """
        SELECT concurrency_key, max_running FROM concurrency_rules
        WHERE concurrency_key = ANY (@keys::text[])
        ORDER BY concurrency_key
        FOR UPDATE
        """;

    // A separate statement, so a fresh snapshot taken after the rule locks were granted (task_states_running_key_idx).
    private const string CountRunningSql = """
        SELECT concurrency_key, count(*)::int AS running FROM task_states
        WHERE status = 'running' AND concurrency_key = ANY (@keys::text[])
        GROUP BY concurrency_key
        """;

    internal sealed record Candidate(Guid Id, string? ConcurrencyKey);

    internal sealed record RuleLimit(string ConcurrencyKey, int MaxRunning);

    internal sealed record RunningCount(string ConcurrencyKey, int Running);

    internal sealed record StartedLease(
        Guid TaskId, long LeaseToken, DateTime ExpiresAt, string Parents, string Kind, DateTime ReadyAt, DateTime StartedAt, string? Traceparent);

    /// <summary>
    /// Admits <paramref name="candidates"/> (locked, in start order) against their keys' limits, up to
    /// <paramref name="wanted"/>, and starts them. Returns the started tasks in start order.
    /// </summary>
    public static async Task<List<StartedLease>> AdmitAndStartAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, List<Candidate> candidates, int wanted, string? worker,
        int? leaseSeconds, int pushLeaseSeconds, CancellationToken cancellationToken)
    {
        var ids = (await AdmitAsync(connection, transaction, candidates, wanted, cancellationToken)).ToArray();
        if (ids.Length == 0)
            return [];
        var leases = (await connection.QueryAsync<StartedLease>(StartStatement.Sql, new
        {
            ids = PgArray.Of(ids), worker, leaseSeconds, pushLeaseSeconds, maxLeaseSeconds = MaxLeaseSeconds, cancellationToken,
        }, transaction)).ToDictionary(lease => lease.TaskId);
        return ids.Select(id => leases[id]).ToList();
    }

    /// <summary>The candidates, in start order, that their keys' limits let start now.</summary>
    private static async Task<List<Guid>> AdmitAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, List<Candidate> candidates, int wanted, CancellationToken cancellationToken)
    {
        var keys = candidates.Where(candidate => candidate.ConcurrencyKey is not null).Select(candidate => candidate.ConcurrencyKey!)
            .Distinct(StringComparer.Ordinal).ToArray();
        var free = new Dictionary<string, int>(StringComparer.Ordinal);
        if (keys.Length > 0)
        {
            var rules = (await connection.QueryAsync<RuleLimit>(LockRulesSql, new { keys = PgArray.Of(keys), cancellationToken }, transaction)).ToList();
            if (rules.Count > 0)
            {
                var ruled = rules.Select(rule => rule.ConcurrencyKey).ToArray();
                var running = (await connection.QueryAsync<RunningCount>(CountRunningSql, new { keys = PgArray.Of(ruled), cancellationToken }, transaction))
                    .ToDictionary(count => count.ConcurrencyKey, count => count.Running, StringComparer.Ordinal);
                foreach (var rule in rules)
                    free[rule.ConcurrencyKey] = rule.MaxRunning - running.GetValueOrDefault(rule.ConcurrencyKey);
            }
        }

        var admitted = new List<Guid>(wanted);
        foreach (var candidate in candidates)
        {
            if (admitted.Count == wanted)
                break;
            if (candidate.ConcurrencyKey is { } key && free.TryGetValue(key, out var slots))
            {
                if (slots <= 0)
                    continue;
                free[key] = slots - 1;
            }
            admitted.Add(candidate.Id);
        }
        return admitted;
    }
}
