using System.Diagnostics;
using System.Net;
using Npgsql;
using TaskRunner.Infrastructure.RateLimiting;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Http;

public sealed class RequestTimeoutsTests(RequestTimeoutsTests.TightTimeouts service) : IClassFixture<RequestTimeoutsTests.TightTimeouts>
{
    /// <summary>Searches and worker calls get a tight limit; everything else keeps the default, so arranging is unhurried.</summary>
    public sealed class TightTimeouts : ServiceFixture
    {
        public const int Milliseconds = 500;

        protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
            base.Settings(connectionString).Concat(
            [
                new("RequestTimeouts:SearchMilliseconds", Milliseconds.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                new("RequestTimeouts:WorkerMilliseconds", Milliseconds.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ]);
    }

    /// <summary>Backends of this class's database waiting for a lock, other than <paramref name="holder"/>.</summary>
    private Task<long> LockWaitersAsync(int holder) => service.ScalarAsync<long>(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> $1", holder);

    [Fact]
    public async Task ARequestPastItsGroupsTimeLimitGetsA503ProblemAndItsQueryIsCancelled()
    {
        using var client = await service.SignedInFromAsync(ClientAddresses.Next());
        await using var holder = new NpgsqlConnection(service.ConnectionString);
        await holder.OpenAsync();
        await using var transaction = await holder.BeginTransactionAsync();
        // The search's query now waits behind this lock for as long as the test holds it.
        await using (var lockTasks = new NpgsqlCommand("LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE", holder, transaction))
            await lockTasks.ExecuteNonQueryAsync();

        var clock = Stopwatch.StartNew();
        using var response = await client.GetAsync("/api/v1/tasks/search?q=anything");
        clock.Stop();

        var problem = await response.AssertProblemAsync(HttpStatusCode.ServiceUnavailable);
        Assert.Equal("request_timeout", problem.GetProperty("code").GetString());
        Assert.NotNull(response.Headers.RetryAfter?.Delta);
        Assert.InRange(clock.ElapsedMilliseconds, TightTimeouts.Milliseconds, 15_000);
        // Still holding the lock: the waiting query can only be gone because the service cancelled it.
        await Eventually.Until(async () => await LockWaitersAsync(holder.ProcessID) == 0,
            "the timed-out search's query still waits in PostgreSQL");
    }

    [Fact]
    public async Task AClaimThatLongPollsIsNotCutShortByItsGroupsTimeLimit()
    {
        using var client = await service.SignedInFromAsync(ClientAddresses.Next());

        var clock = Stopwatch.StartNew();
        using var response = await client.PostAsync("/api/v1/tasks/claim",
            TestJson.Body(("limit", 1), ("lease_seconds", 60), ("wait_seconds", 2)));
        clock.Stop();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(clock.ElapsedMilliseconds >= 1_900, $"the claim answered after {clock.ElapsedMilliseconds} ms, before its wait was over");
    }
}
