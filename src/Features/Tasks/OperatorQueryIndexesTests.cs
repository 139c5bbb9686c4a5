using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Tasks;

/// <summary>Migration 20 on a database that already holds tasks, and the operator list its new index serves.</summary>
public sealed class OperatorQueryIndexesTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private const string IndexStateSql = """
        SELECT coalesce(string_agg(c.relname || ':' || i.indisvalid, ',' ORDER BY c.relname), '')
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relname IN ('tasks_kind_priority_created_idx', 'tasks_status_created_idx')
        """;

    [Fact]
    public async Task TheMigrationBuildsTheKindPriorityIndexOverExistingTasksAndTheKindListKeepsItsOrder()
    {
        using var project = await service.CreateProjectAsync();
        var kind = "ops." + TaskQueryFixtures.Tag();
        // Two requests, so the two urgent tasks differ in created_at (one request's tasks share its transaction's time).
        var older = await project.OwnerClient.CreateTasksAsync(project.Id, TaskQueryFixtures.Task("urgent older", kind: kind, priority: 90));
        var newer = await project.OwnerClient.CreateTasksAsync(project.Id,
            TaskQueryFixtures.Task("low", kind: kind, priority: 10),
            TaskQueryFixtures.Task("urgent newer", kind: kind, priority: 90),
            TaskQueryFixtures.Task("other kind", kind: "ops.other", priority: 100));

        // Back to the schema before migration 20 with these tasks in the table, then forward again.
        Schema.Down(service.ConnectionString, 19);
        Assert.Equal("tasks_status_created_idx:true", await service.ScalarAsync<string>(IndexStateSql));
        Schema.Up(service.ConnectionString);

        Assert.Equal("tasks_kind_priority_created_idx:true", await service.ScalarAsync<string>(IndexStateSql));
        var items = await project.OwnerClient.AllPagesAsync($"{TaskQueryFixtures.Path}?kind={kind}&sort=-priority,created_at&limit=2");
        Assert.Equal([older[0], newer[1], newer[0]], items.Select(item => item.GetProperty("id").GetGuid()).ToList());
    }
}
