using System.Text.Json;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Tasks.CreateTasks;

/// <summary>Migration 36: the action-template trigger is not called for a task without actions, and still is for one with.</summary>
public sealed class TemplateResolutionTriggerTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    // EXPLAIN ANALYZE lists every trigger the insert called, with its number of calls.
    private const string ExplainInsertSql = """
        EXPLAIN (ANALYZE, FORMAT JSON)
        INSERT INTO tasks (id, project_id, title, actions, created_by)
        SELECT uuid_v7(), p.id, 'trigger probe', $2::jsonb, p.created_by FROM projects p WHERE p.id = $1
        """;

    [Fact]
    public async Task ATaskWithoutActionsSkipsTheTriggerAndOneWithActionsStillCallsIt()
    {
        using var project = await service.CreateProjectAsync();
        const string someAction = """[{"trigger": "end", "url": "https://example.com/hook"}]""";

        Assert.Equal(0, await ResolutionCallsAsync(project.Id, "[]"));
        Assert.Equal(1, await ResolutionCallsAsync(project.Id, someAction));

        // Before migration 36 every insert called it; forward again, the empty list skips it once more.
        Schema.Down(service.ConnectionString, Schema.VersionBefore(36));
        Assert.Equal(1, await ResolutionCallsAsync(project.Id, "[]"));
        Schema.Up(service.ConnectionString);
        Assert.Equal(0, await ResolutionCallsAsync(project.Id, "[]"));
        Assert.Equal(1, await ResolutionCallsAsync(project.Id, someAction));
    }

    private async Task<int> ResolutionCallsAsync(Guid projectId, string actions)
    {
        using var plan = JsonDocument.Parse(await service.ScalarAsync<string>(ExplainInsertSql, projectId, actions));
        var triggers = plan.RootElement[0].TryGetProperty("Triggers", out var list) ? list.EnumerateArray().ToList() : [];
        return triggers.Where(trigger => trigger.GetProperty("Trigger Name").GetString() == "tasks_resolve_action_templates")
            .Sum(trigger => trigger.GetProperty("Calls").GetInt32());
    }
}
