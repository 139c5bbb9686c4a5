using System.Net;
using System.Text.Json.Nodes;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Execution;

/// <summary>
/// Propagation takes its row locks in id order, so writes racing through shared descendants (diamonds) wait for each other
/// instead of deadlocking: no request fails, and the graph ends consistent.
/// </summary>
public sealed class PropagationLockOrderTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private const int Rounds = 12;
    private const int SharedChildren = 12;

    [Fact]
    public async Task ConcurrentFailureSuccessCancelAndDeleteOnDiamondsNeverDeadlock()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var deadlocksBefore = await DeadlocksAsync();
        static void Final(JsonObject body) => body["max_retries"] = 0;
        for (var round = 0; round < Rounds; round++)
        {
            // Two roots share every middle task; every middle task feeds one sink: diamonds, many times over.
            var failing = await worker.CreateIdAsync($"failing {round}", Final);
            var succeeding = await worker.CreateIdAsync($"succeeding {round}", Final);
            var middle = new List<Guid>();
            for (var i = 0; i < SharedChildren; i++)
                middle.Add(await worker.CreateIdAsync($"middle {round}.{i}", EngineWorker.DependsOn(failing, succeeding)));
            var sink = await worker.CreateIdAsync($"sink {round}", EngineWorker.DependsOn([.. middle.Cast<object>()]));
            var claimed = (await worker.ClaimAsync(limit: 2)).ToDictionary(task => Guid.Parse(task.GetProperty("id").GetString()!),
                task => task.GetProperty("lease_token").GetInt64());
            Assert.Equal([failing, succeeding], claimed.Keys.Order());

            using var start = new SemaphoreSlim(0);
            async Task<HttpStatusCode> RaceAsync(Func<Task<HttpResponseMessage>> send)
            {
                await start.WaitAsync();
                using var response = await send();
                var text = await response.Content.ReadAsStringAsync();
                Assert.True(response.StatusCode is HttpStatusCode.OK or HttpStatusCode.NoContent or HttpStatusCode.Conflict,
                    $"{(int)response.StatusCode}: {text}");
                return response.StatusCode;
            }
            var racing = new[]
            {
                RaceAsync(() => worker.CompleteAsync(failing, claimed[failing], "failed")),
                RaceAsync(() => worker.CompleteAsync(succeeding, claimed[succeeding])),
                RaceAsync(() => worker.PostAsync($"/api/v1/tasks/{middle[SharedChildren / 2]}/cancel")),
                RaceAsync(() => worker.PostAsync($"/api/v1/tasks/{middle[^1]}/cancel")),
                RaceAsync(() => worker.Client.DeleteAsync($"/api/v1/tasks/{middle[0]}?cascade=true")),
            };
            start.Release(racing.Length);
            await Task.WhenAll(racing);

            // The failed root cancels everything below it, whoever got there first; nothing is left waiting.
            Assert.Equal("failed", await worker.StatusAsync(failing));
            Assert.Equal("succeeded", await worker.StatusAsync(succeeding));
            foreach (var task in middle.Append(sink))
                Assert.Equal("cancelled", await worker.StatusAsync(task));
        }

        // A deadlock the service retried passes unseen over HTTP, but PostgreSQL counts it. A backend's counts reach the
        // statistics when it has idled a while or exits: end the service's connections, wait until they are gone, then look.
        var others = (await service.QueryTextAsync(
            "SELECT pid::text FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"))
            .Select(int.Parse).ToArray();
        await service.ExecuteSqlAsync("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS p (pid)", others);
        await service.WaitForAsync("SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE pid = ANY ($1::int[]))", others);
        Assert.Equal(deadlocksBefore, await DeadlocksAsync());
    }

    private Task<long> DeadlocksAsync() =>
        service.ScalarAsync<long>("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()");
}
