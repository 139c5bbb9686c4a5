using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Execution;

public sealed class ListBatchesTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task AProjectViewerListsItsBatchesNewestFirstWithTheirCountsByStatus()
    {
        using var project = await service.CreateProjectAsync();
        var (_, viewer) = await service.MemberAsync(project, ProjectRoles.Viewer);
        var older = await CreateBatchAsync(project, 2);
        var newer = await CreateBatchAsync(project, 3);
        using (var paused = await project.OwnerClient.PostAsync($"/api/v1/batches/{newer}/pause", null))
            Assert.Equal(HttpStatusCode.OK, paused.StatusCode);
        await service.CreateTaskAsync(project, "not in a batch");

        using var response = await viewer.GetAsync($"/api/v1/batches?project_id={project.Id}");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var batches = (await response.ReadJsonAsync()).GetProperty("data").EnumerateArray().ToList();
        Assert.Equal(new[] { newer, older }, batches.Select(batch => batch.GetProperty("batch_id").GetString()));
        Assert.Equal(3, batches[0].GetProperty("total").GetInt32());
        Assert.Equal(3, batches[0].GetProperty("counts").GetProperty("paused").GetInt32());
        Assert.Equal(0, batches[0].GetProperty("counts").GetProperty("pending").GetInt32());
        Assert.Equal(2, batches[1].GetProperty("counts").GetProperty("pending").GetInt32());
        Assert.Equal(7, batches[1].GetProperty("counts").EnumerateObject().Count());
        Assert.Equal(project.Id.ToString(), batches[1].GetProperty("project_id").GetString());
        Assert.Equal(JsonValueKind.String, batches[1].GetProperty("created_at").ValueKind);
    }

    [Fact]
    public async Task BatchesComeInCursorPagesWithoutRepeatsOrGaps()
    {
        using var project = await service.CreateProjectAsync();
        var created = new List<string>();
        for (var index = 0; index < 5; index++)
            created.Add(await CreateBatchAsync(project, 1 + index % 2));

        var seen = new List<string>();
        string? cursor = null;
        do
        {
            var url = $"/api/v1/batches?project_id={project.Id}&limit=2" + (cursor is null ? "" : $"&cursor={Uri.EscapeDataString(cursor)}");
            using var response = await project.OwnerClient.GetAsync(url);
            var page = await response.ReadJsonAsync();
            Assert.True(page.GetProperty("data").GetArrayLength() <= 2);
            seen.AddRange(page.GetProperty("data").EnumerateArray().Select(batch => batch.GetProperty("batch_id").GetString()!));
            cursor = page.GetProperty("next_cursor").GetString();
        }
        while (cursor is not null);

        Assert.Equal(Enumerable.Reverse(created), seen);
    }

    [Fact]
    public async Task AnotherUsersProjectIsNotFoundAndItsBatchesAreNeverListed()
    {
        using var project = await service.CreateProjectAsync();
        using var other = await service.CreateProjectAsync();
        await CreateBatchAsync(project, 1);
        var foreign = await CreateBatchAsync(other, 1);

        using var stranger = await project.OwnerClient.GetAsync($"/api/v1/batches?project_id={other.Id}");
        using var unknown = await project.OwnerClient.GetAsync($"/api/v1/batches?project_id={Guid.CreateVersion7()}");
        using var own = await project.OwnerClient.GetAsync($"/api/v1/batches?project_id={project.Id}");

        await stranger.AssertProblemAsync(HttpStatusCode.NotFound);
        await unknown.AssertProblemAsync(HttpStatusCode.NotFound);
        var listed = (await own.ReadJsonAsync()).GetProperty("data").EnumerateArray().Select(batch => batch.GetProperty("batch_id").GetString());
        Assert.DoesNotContain(foreign, listed);
    }

    [Fact]
    public async Task OnlyAnAdminMayLeaveOutTheProjectAndSeesEveryProjectsBatches()
    {
        using var project = await service.CreateProjectAsync();
        using var other = await service.CreateProjectAsync();
        var mine = await CreateBatchAsync(project, 1);
        var theirs = await CreateBatchAsync(other, 1);
        using var admin = await service.ClientForNewUserAsync(Roles.Admin);

        using var member = await project.OwnerClient.GetAsync("/api/v1/batches");
        using var everything = await admin.GetAsync("/api/v1/batches?limit=200");

        Assert.Equal(new[] { "is required (only admins may list the batches of every project)" },
            (await member.AssertProblemAsync(HttpStatusCode.BadRequest)).Errors("project_id"));
        Assert.Equal(HttpStatusCode.OK, everything.StatusCode);
        var listed = (await everything.ReadJsonAsync()).GetProperty("data").EnumerateArray().Select(batch => batch.GetProperty("batch_id").GetString()).ToList();
        Assert.Contains(mine, listed);
        Assert.Contains(theirs, listed);
    }

    [Fact]
    public async Task ABatchWhoseTasksWereAllDeletedIsNotListed()
    {
        using var project = await service.CreateProjectAsync();
        var kept = await CreateBatchAsync(project, 1);
        var deleted = await CreateBatchAsync(project, 1);
        await service.ExecuteSqlAsync("UPDATE tasks SET deleted_at = now() WHERE batch_id = $1", Guid.Parse(deleted));

        using var response = await project.OwnerClient.GetAsync($"/api/v1/batches?project_id={project.Id}");

        Assert.Equal(new[] { kept }, (await response.ReadJsonAsync()).GetProperty("data").EnumerateArray().Select(batch => batch.GetProperty("batch_id").GetString()));
    }

    [Theory]
    [InlineData("project_id=not-a-uuid", "project_id")]
    [InlineData("limit=0", "limit")]
    [InlineData("sort=created_at", "sort")]
    [InlineData("cursor=garbage", "cursor")]
    [InlineData("fields=nope", "fields")]
    public async Task MalformedParametersAreNamedInA400(string parameter, string field)
    {
        using var project = await service.CreateProjectAsync();

        var separator = parameter.StartsWith("project_id", StringComparison.Ordinal) ? "" : $"project_id={project.Id}&";
        using var response = await project.OwnerClient.GetAsync($"/api/v1/batches?{separator}{parameter}");

        Assert.NotEmpty((await response.AssertProblemAsync(HttpStatusCode.BadRequest)).Errors(field));
    }

    /// <summary>A batch of <paramref name="size"/> independent tasks made by bulk create; its id.</summary>
    private static async Task<string> CreateBatchAsync(TestProject project, int size)
    {
        var tasks = new JsonArray();
        for (var index = 0; index < size; index++)
            tasks.Add(new JsonObject { ["ref"] = $"t{index}", ["title"] = $"task {index}" });
        using var response = await project.OwnerClient.PostAsync("/api/v1/tasks/bulk",
            TestJson.Raw(new JsonObject { ["project_id"] = project.Id.ToString(), ["tasks"] = tasks }.ToJsonString()));
        var body = await response.ReadJsonAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, body.ToString());
        return body.GetProperty("batch_id").GetString()!;
    }
}
