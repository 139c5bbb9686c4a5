using System.Net;
using Npgsql;
using TaskRunner.Features.Execution;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Tasks;

/// <summary>A live dependency never joins two projects: the API refuses what would make one, and so does the schema.</summary>
public sealed class EdgesWithinProjectTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private static async Task MoveAsync(EngineWorker worker, Guid id, Guid projectId)
    {
        using var moved = await worker.Client.PatchAsync("/api/v1/tasks/bulk",
            TestJson.Raw($$$"""{"ids":["{{{id}}}"],"set":{"project_id":"{{{projectId}}}"}}"""));
        var results = await moved.ReadJsonAsync();
        Assert.Equal("updated", results.GetProperty("results")[0].GetProperty("status").GetString());
    }

    private Task<long> LiveEdgesAcrossProjectsAsync(Guid projectId) => service.ScalarAsync<long>("""
        SELECT count(*) FROM task_dependencies d JOIN tasks p ON p.id = d.parent_id JOIN tasks c ON c.id = d.child_id
        WHERE p.project_id <> c.project_id AND p.deleted_at IS NULL AND c.deleted_at IS NULL AND $1 IN (p.project_id, c.project_id)
        """, projectId);

    [Fact]
    public async Task RestoringAChildWhoseParentMovedToAnotherProjectIsAConflictNamingTheParent()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var otherProject = await service.CreateProjectAsync(worker.Account);
        var parent = await worker.CreateIdAsync("parent");
        var child = await worker.CreateIdAsync("child", EngineWorker.DependsOn(parent));
        using (var deleted = await worker.Client.DeleteAsync($"/api/v1/tasks/{child}"))
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        await MoveAsync(worker, parent, otherProject);

        using var restored = await worker.Client.PostAsync($"/api/v1/tasks/{child}/restore", null);

        var problem = await restored.AssertProblemAsync(HttpStatusCode.Conflict);
        Assert.Equal([parent.ToString()], problem.GetProperty("parents").EnumerateArray().Select(id => id.GetString()));
        Assert.Equal("true", (await service.QueryTextAsync("SELECT (deleted_at IS NOT NULL)::text FROM tasks WHERE id = $1", child)).Single());
        Assert.Equal(0L, await LiveEdgesAcrossProjectsAsync(worker.ProjectId));
    }

    [Fact]
    public async Task ACascadingRestoreLeavesBehindADescendantWhoseOtherParentMovedAway()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var otherProject = await service.CreateProjectAsync(worker.Account);
        var root = await worker.CreateIdAsync("root");
        var wanderer = await worker.CreateIdAsync("wanderer");
        var child = await worker.CreateIdAsync("child", EngineWorker.DependsOn(root, wanderer));
        using (var deleted = await worker.Client.DeleteAsync($"/api/v1/tasks/{root}?cascade=true"))
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        await MoveAsync(worker, wanderer, otherProject);

        using var restored = await worker.Client.PostAsync($"/api/v1/tasks/{root}/restore?cascade=true", null);

        Assert.Equal(HttpStatusCode.OK, restored.StatusCode);
        Assert.Equal("true", (await service.QueryTextAsync("SELECT (deleted_at IS NOT NULL)::text FROM tasks WHERE id = $1", child)).Single());
        Assert.Equal(0L, await LiveEdgesAcrossProjectsAsync(worker.ProjectId));
    }

    [Fact]
    public async Task RestoringATaskOfADeletedProjectIsAConflict()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var task = await worker.CreateIdAsync("orphan");
        using (var deleted = await worker.Client.DeleteAsync($"/api/v1/tasks/{task}"))
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        using (var projectDeleted = await worker.Client.DeleteAsync($"/api/v1/projects/{worker.ProjectId}"))
            Assert.Equal(HttpStatusCode.NoContent, projectDeleted.StatusCode);

        using var restored = await worker.Client.PostAsync($"/api/v1/tasks/{task}/restore", null);

        var problem = await restored.AssertProblemAsync(HttpStatusCode.Conflict);
        Assert.Contains("project is deleted", problem.GetProperty("detail").GetString());
        Assert.Equal("true", (await service.QueryTextAsync("SELECT (deleted_at IS NOT NULL)::text FROM tasks WHERE id = $1", task)).Single());
    }

    [Fact]
    public async Task TheSchemaRefusesEveryWriteThatWouldJoinProjectsByALiveEdge()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var otherProject = await service.CreateProjectAsync(worker.Account);
        var parent = await worker.CreateIdAsync("parent");
        var stranger = await worker.CreateIdAsync("stranger");
        await MoveAsync(worker, stranger, otherProject);
        var child = await worker.CreateIdAsync("child", EngineWorker.DependsOn(parent));
        var deletedChild = await worker.CreateIdAsync("deleted child", EngineWorker.DependsOn(parent));
        await service.SoftDeleteTaskAsync(deletedChild);

        await AssertRefusedAsync("INSERT INTO task_dependencies (child_id, parent_id) VALUES ($1, $2)", stranger, parent);
        await AssertRefusedAsync("UPDATE tasks SET project_id = $2 WHERE id = $1", child, otherProject);
        // Linked tasks moved together in one statement leave no edge across (the deleted child stays behind, as it may).
        await service.ExecuteSqlAsync("UPDATE tasks SET project_id = $2 WHERE id = ANY ($1)", new[] { parent, child }, otherProject);
        await AssertRefusedAsync("UPDATE tasks SET deleted_at = NULL WHERE id = $1", deletedChild);
    }

    private async Task AssertRefusedAsync(string sql, params object[] values)
    {
        var refused = await Assert.ThrowsAsync<PostgresException>(() => service.ExecuteSqlAsync(sql, values));
        Assert.Equal(PgErrors.CheckViolation, refused.SqlState);
        Assert.Equal(PgErrors.EdgeWithinProject, refused.ConstraintName);
    }

    [Fact]
    public async Task TheGraphShowsOnlyTasksTheCallerMayRead()
    {
        using var worker = await EngineWorker.StartAsync(service);
        using var outsider = await EngineWorker.StartAsync(service);
        var foreignParent = await outsider.CreateIdAsync("not yours");
        var child = await worker.CreateIdAsync("child");
        // An edge across projects as one written before the schema refused them.
        await using (var connection = new NpgsqlConnection(service.ConnectionString))
        {
            await connection.OpenAsync();
            await using var batch = new NpgsqlBatch(connection)
            {
                BatchCommands =
                {
                    new NpgsqlBatchCommand("SET session_replication_role = replica"),
                    new NpgsqlBatchCommand("INSERT INTO task_dependencies (child_id, parent_id) VALUES ($1, $2)")
                    {
                        Parameters = { new NpgsqlParameter { Value = child }, new NpgsqlParameter { Value = foreignParent } },
                    },
                },
            };
            await batch.ExecuteNonQueryAsync();
        }

        using var graph = await worker.Client.GetAsync($"/api/v1/tasks/{child}/graph");

        var body = await graph.ReadJsonAsync();
        Assert.Equal(HttpStatusCode.OK, graph.StatusCode);
        Assert.Empty(body.GetProperty("ancestors").EnumerateArray());
        Assert.Empty(body.GetProperty("edges").EnumerateArray());
    }
}
