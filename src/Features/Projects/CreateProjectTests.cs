using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Projects;

/// <summary>Factories and requests the project tests share, reading like the domain.</summary>
public static class ProjectTestData
{
    public const string Path = "/api/v1/projects";

    public static string Id(this JsonElement project) => project.GetProperty("id").GetString()!;

    /// <summary>A unique name, so a test finds its own projects among every other test's.</summary>
    public static string UniqueName(string prefix = "Project") => $"{prefix} {Guid.NewGuid():N}";

    public static async Task<JsonElement> CreateProjectAsync(this HttpClient client, string? name = null, string? description = null)
    {
        using var response = await client.PostAsync(Path, TestJson.Body(("name", name ?? UniqueName()), ("description", description)));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"create failed: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    public static async Task AddMemberAsync(this HttpClient owner, string projectId, Guid userId, string role)
    {
        using var response = await owner.PostAsync($"{Path}/{projectId}/members", TestJson.Body(("user_id", userId), ("role", role)));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"add member failed: {(int)response.StatusCode} {body}");
    }

    /// <summary>A client of a new account that is <paramref name="role"/> in the owner's project.</summary>
    public static async Task<HttpClient> ClientForMemberAsync(
        this ServiceFixture service, HttpClient owner, string projectId, string role, string globalRole = Roles.Member)
    {
        var account = await service.CreateUserAsync(globalRole);
        await owner.AddMemberAsync(projectId, account.Id, role);
        return await service.ClientForAsync(account);
    }

    public static async Task<HttpResponseMessage> SendAsync(
        this HttpClient client, HttpMethod method, string url, HttpContent? content = null, string? ifMatch = null, string? ifNoneMatch = null)
    {
        using var request = new HttpRequestMessage(method, url) { Content = content };
        if (ifMatch is not null)
            request.Headers.TryAddWithoutValidation("If-Match", ifMatch);
        if (ifNoneMatch is not null)
            request.Headers.TryAddWithoutValidation("If-None-Match", ifNoneMatch);
        return await client.SendAsync(request);
    }

    public static string? ETag(this HttpResponseMessage response) => response.Headers.ETag?.Tag;
}

public sealed class CreateProjectTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task ANewProjectAnswersItsWebhookSecretOnceAndStoresItSealed()
    {
        var account = await service.CreateUserAsync();
        using var member = await service.ClientForAsync(account);

        using var created = await member.PostAsync(ProjectTestData.Path, TestJson.Body(("name", ProjectTestData.UniqueName())));
        var project = await created.ReadJsonAsync();
        using var read = await member.GetAsync(created.Headers.Location);
        using var list = await member.GetAsync(ProjectTestData.Path);

        var secret = project.GetProperty("webhook_secret").GetString()!;
        Assert.StartsWith("whsec_", secret);
        Assert.False((await read.ReadJsonAsync()).TryGetProperty("webhook_secret", out _));
        Assert.DoesNotContain("webhook_secret", await list.Content.ReadAsStringAsync());
        var stored = Assert.Single(await service.QueryTextAsync("SELECT secret FROM webhook_secrets WHERE project_id = $1", Guid.Parse(project.Id())));
        Assert.StartsWith($"aesgcm:{ServiceFixture.SecretKeyId}:", stored);
        Assert.DoesNotContain(secret["whsec_".Length..], stored);
    }

    [Fact]
    public async Task AMemberCreatesAProjectAndBecomesItsOwner()
    {
        var account = await service.CreateUserAsync();
        using var member = await service.ClientForAsync(account);
        var name = ProjectTestData.UniqueName();

        using var created = await member.PostAsync(ProjectTestData.Path, TestJson.Body(("name", "  " + name + " "), ("description", "Things")));
        var project = await created.ReadJsonAsync();
        using var read = await member.GetAsync(created.Headers.Location);
        using var members = await member.GetAsync($"{ProjectTestData.Path}/{project.Id()}/members");

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal($"/api/v1/projects/{project.Id()}", created.Headers.Location?.OriginalString);
        Assert.Equal("\"1\"", created.ETag());
        Assert.Equal(name, project.GetProperty("name").GetString());
        Assert.Equal("Things", project.GetProperty("description").GetString());
        Assert.Equal(account.Id, project.GetProperty("created_by").GetGuid());
        Assert.EndsWith("Z", project.GetProperty("created_at").GetString());
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        var shownOnce = JsonNode.Parse(project.GetRawText())!.AsObject();
        Assert.True(shownOnce.Remove("webhook_secret"));
        Assert.True(JsonNode.DeepEquals(shownOnce, JsonNode.Parse((await read.ReadJsonAsync()).GetRawText())));
        var owner = Assert.Single((await members.ReadJsonAsync()).GetProperty("data").EnumerateArray());
        Assert.Equal(account.Id, owner.GetProperty("user_id").GetGuid());
        Assert.Equal("owner", owner.GetProperty("role").GetString());
    }

    [Fact]
    public async Task TheSameIdempotencyKeyReplaysTheFirstProjectWithoutItsSecretInsteadOfCreatingAnother()
    {
        var account = await service.CreateUserAsync();
        using var member = await service.ClientForAsync(account);
        var name = ProjectTestData.UniqueName();
        var key = Guid.NewGuid().ToString();

        async Task<HttpResponseMessage> PostAsync(string projectName)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, ProjectTestData.Path) { Content = TestJson.Body(("name", projectName)) };
            request.Headers.Add("Idempotency-Key", key);
            return await member.SendAsync(request);
        }
        using var first = await PostAsync(name);
        using var replay = await PostAsync(name);
        using var otherBody = await PostAsync(name + " other");

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Created, replay.StatusCode);
        Assert.Equal("true", replay.Headers.GetValues("Idempotent-Replayed").Single());
        var shownOnce = JsonNode.Parse(await first.Content.ReadAsStringAsync())!.AsObject();
        var secret = shownOnce["webhook_secret"]!.GetValue<string>();
        Assert.True(shownOnce.Remove("webhook_secret"));
        Assert.True(JsonNode.DeepEquals(shownOnce, JsonNode.Parse(await replay.Content.ReadAsStringAsync())));
        Assert.Equal(first.Headers.Location, replay.Headers.Location);
        var stored = Assert.Single(await service.QueryTextAsync("SELECT convert_from(body, 'UTF8') FROM idempotency_keys WHERE key = $1", key));
        Assert.DoesNotContain(secret, stored);
        await otherBody.AssertProblemAsync(HttpStatusCode.Conflict);
        Assert.Equal(["1"], await service.QueryTextAsync("SELECT count(*)::text FROM projects WHERE name = $1", name));
    }

    [Fact]
    public async Task AViewerCannotCreateAProject()
    {
        using var viewer = await service.ClientForNewUserAsync(Roles.Viewer);

        using var response = await viewer.PostAsync(ProjectTestData.Path, TestJson.Body(("name", "Nope")));

        await response.AssertProblemAsync(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task CreatingAProjectIsAudited()
    {
        using var member = await service.ClientForNewUserAsync();

        var project = await member.CreateProjectAsync();

        Assert.Equal(["project.create"],
            await service.QueryTextAsync("SELECT action FROM audit_log WHERE resource_type = 'project' AND resource_id = $1", project.Id()));
    }

    [Fact]
    public async Task EveryInvalidFieldIsReportedAtOnce()
    {
        using var member = await service.ClientForNewUserAsync();

        using var response = await member.PostAsync(ProjectTestData.Path,
            TestJson.Body(("name", "   "), ("description", new string('d', 10_001))));

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal(["is required"], problem.Errors("name"));
        Assert.Equal(["must be at most 10000 characters"], problem.Errors("description"));
    }

    [Fact]
    public async Task ANameLongerThan200CharactersIs422()
    {
        using var member = await service.ClientForNewUserAsync();

        using var response = await member.PostAsync(ProjectTestData.Path, TestJson.Body(("name", new string('n', 201))));

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal(["must be between 1 and 200 characters"], problem.Errors("name"));
    }

    [Fact]
    public async Task ANulCharacterInNameOrDescriptionIs422NotAServerError()
    {
        using var member = await service.ClientForNewUserAsync();

        using var response = await member.PostAsync(ProjectTestData.Path, TestJson.Body(("name", "a\0b"), ("description", "c\0d")));

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal(["must not contain NUL characters"], problem.Errors("name"));
        Assert.Equal(["must not contain NUL characters"], problem.Errors("description"));
    }

    [Fact]
    public async Task ALoneSurrogateInTheNameIsRefusedNotAServerError()
    {
        using var member = await service.ClientForNewUserAsync();

        using var response = await member.PostAsync(ProjectTestData.Path, TestJson.Raw("""{"name":"bad \ud800 text"}"""));

        Assert.True((int)response.StatusCode is 400 or 422, $"got {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    [Fact]
    public async Task AnUnknownPropertyIs422()
    {
        using var member = await service.ClientForNewUserAsync();

        using var response = await member.PostAsync(ProjectTestData.Path, TestJson.Body(("name", "Typo"), ("descripton", "x")));

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal(["is not a known property"], problem.Errors("descripton"));
    }
}
