using System.Net;
using System.Text.Json.Nodes;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Tasks;

/// <summary>Migration 27 (task_states, live_dedupe_key) on a database that already holds tasks in every state.</summary>
public sealed class TaskStatesMigrationTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    // Tasks whose task_states row is missing or differs from the task in any column it mirrors.
    private const string MismatchesSql = """
        SELECT count(*) FROM tasks t LEFT JOIN task_states s ON s.task_id = t.id
        WHERE s.task_id IS NULL
           OR (s.status, s.pending_parents, s.priority, s.created_at, s.updated_at, s.concurrency_key, s.deleted_at)
              IS DISTINCT FROM (t.status, t.pending_parents, t.priority, t.created_at, t.updated_at, t.concurrency_key, t.deleted_at)
        """;

    // More tasks than one batch of the migration's copy holds, so the copy runs over several committed batches.
    private const string ManyTasksSql = """
        INSERT INTO tasks (id, project_id, title, created_by, status, ended_at)
        SELECT gen_random_uuid(), $1, 'filler ' || i, (SELECT created_by FROM projects WHERE id = $1),
               CASE WHEN i % 2 = 0 THEN 'succeeded' ELSE 'pending' END, CASE WHEN i % 2 = 0 THEN now() END
        FROM generate_series(1, 12000) AS i
        """;

    [Fact]
    public async Task TheMigrationCopiesEveryTaskAndTheDedupeRuleAndTheEngineKeepsWorking()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var deduped = await worker.CreateIdAsync("deduped", task => task["dedupe_key"] = "once");
        var running = await worker.CreateIdAsync("running");
        var waiting = await worker.CreateIdAsync("waiting", EngineWorker.DependsOn(running));
        var token = (await worker.ClaimAsync(limit: 2)).Single(task => task.GetProperty("id").GetGuid() == running)
            .GetProperty("lease_token").GetInt64();

        // Back to the schema before migration 27 with these tasks in the table, more written meanwhile, then forward again.
        Schema.Down(service.ConnectionString, 23);
        Assert.False(await service.ScalarAsync<bool>("SELECT to_regclass('task_states') IS NOT NULL"));
        await service.ExecuteSqlAsync(ManyTasksSql, worker.ProjectId);
        Schema.Up(service.ConnectionString);

        Assert.Equal(0L, await service.ScalarAsync<long>(MismatchesSql));
        Assert.Equal("once", await service.ScalarAsync<string>("SELECT live_dedupe_key FROM tasks WHERE id = $1", deduped));
        using (var again = await worker.PostAsync("/api/v1/tasks", new JsonObject
        {
            ["project_id"] = worker.ProjectId.ToString(), ["title"] = "deduped", ["dedupe_key"] = "once",
        }))
        {
            Assert.Equal(HttpStatusCode.OK, again.StatusCode);
            Assert.Equal(deduped, (await again.ReadJsonAsync()).GetProperty("id").GetGuid());
        }
        using (var runningList = await worker.Client.GetAsync($"/api/v1/tasks?project_id={worker.ProjectId}&status=running"))
            Assert.Equal(2, (await runningList.ReadJsonAsync()).GetProperty("data").GetArrayLength());
        using (var completed = await worker.CompleteAsync(running, token))
            Assert.Equal(HttpStatusCode.OK, completed.StatusCode);
        // Released by its parent's end, and older than the copied pending tasks: the head of the ready queue.
        Assert.Equal(waiting, (await worker.ClaimOneAsync()).GetProperty("id").GetGuid());
        Assert.Equal(0L, await service.ScalarAsync<long>(MismatchesSql));
    }
}
