using System.Net;
using System.Text.Json.Nodes;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Http;

public sealed class IdempotencyTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private async Task<(HttpClient Client, Guid ProjectId)> EditorWithProjectAsync()
    {
        var account = await service.CreateUserAsync();
        var project = await service.CreateProjectAsync(account);
        return (await service.ClientForAsync(account), project);
    }

    private static async Task<HttpResponseMessage> PostAsync(HttpClient client, string key, string body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/tasks") { Content = TestJson.Raw(body) };
        request.Headers.Add("Idempotency-Key", key);
        return await client.SendAsync(request);
    }

    [Fact]
    public async Task TheSameKeyAndBodyReplayTheFirstResponseByteForByte()
    {
        var (client, project) = await EditorWithProjectAsync();
        var body = new JsonObject { ["project_id"] = project.ToString(), ["title"] = "once" }.ToJsonString();

        using var first = await PostAsync(client, "key-1", body);
        using var replay = await PostAsync(client, "key-1", body);

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Created, replay.StatusCode);
        Assert.Equal(await first.Content.ReadAsByteArrayAsync(), await replay.Content.ReadAsByteArrayAsync());
        Assert.Equal(first.Headers.Location, replay.Headers.Location);
        Assert.Equal(first.Headers.ETag, replay.Headers.ETag);
        Assert.Equal("true", replay.Headers.GetValues("Idempotent-Replayed").Single());
        Assert.False(first.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(1L, await service.ScalarAsync<long>("SELECT count(*) FROM tasks WHERE project_id = $1", project));
    }

    [Fact]
    public async Task TheSameKeyWithAnotherBodyIsAConflict()
    {
        var (client, project) = await EditorWithProjectAsync();

        using var first = await PostAsync(client, "key-2", new JsonObject { ["project_id"] = project.ToString(), ["title"] = "a" }.ToJsonString());
        using var other = await PostAsync(client, "key-2", new JsonObject { ["project_id"] = project.ToString(), ["title"] = "b" }.ToJsonString());

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        await other.AssertProblemAsync(HttpStatusCode.Conflict);
        Assert.Equal(1L, await service.ScalarAsync<long>("SELECT count(*) FROM tasks WHERE project_id = $1", project));
    }

    [Fact]
    public async Task ConcurrentDuplicatesCreateOnce()
    {
        var (client, project) = await EditorWithProjectAsync();
        var body = new JsonObject { ["project_id"] = project.ToString(), ["title"] = "race" }.ToJsonString();

        var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => PostAsync(client, "key-3", body)));

        // Each duplicate either replays the winner's response or is told the first is still in flight.
        Assert.All(responses, response => Assert.True(response.StatusCode is HttpStatusCode.Created or HttpStatusCode.Conflict));
        Assert.Contains(responses, response => response.StatusCode == HttpStatusCode.Created);
        Assert.Equal(1L, await service.ScalarAsync<long>("SELECT count(*) FROM tasks WHERE project_id = $1", project));
        foreach (var response in responses)
            response.Dispose();
    }

    [Fact]
    public async Task KeysBelongToTheirCaller()
    {
        var (client, project) = await EditorWithProjectAsync();
        var other = await service.CreateUserAsync();
        var otherProject = await service.CreateProjectAsync(other);
        using var otherClient = await service.ClientForAsync(other);

        using var mine = await PostAsync(client, "shared-key", new JsonObject { ["project_id"] = project.ToString(), ["title"] = "a" }.ToJsonString());
        using var theirs = await PostAsync(otherClient, "shared-key",
            new JsonObject { ["project_id"] = otherProject.ToString(), ["title"] = "b" }.ToJsonString());

        Assert.Equal(HttpStatusCode.Created, mine.StatusCode);
        Assert.Equal(HttpStatusCode.Created, theirs.StatusCode);
        Assert.False(theirs.Headers.Contains("Idempotent-Replayed"));
    }

    [Fact]
    public async Task AValidationFailureIsReplayedToo()
    {
        var (client, project) = await EditorWithProjectAsync();
        var body = new JsonObject { ["project_id"] = project.ToString(), ["title"] = "" }.ToJsonString();

        using var first = await PostAsync(client, "key-4", body);
        using var replay = await PostAsync(client, "key-4", body);

        await first.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, replay.StatusCode);
        Assert.Equal("true", replay.Headers.GetValues("Idempotent-Replayed").Single());
    }

    [Fact]
    public async Task AMalformedKeyIsABadRequest()
    {
        var (client, project) = await EditorWithProjectAsync();

        using var response = await PostAsync(client, new string('k', 256),
            new JsonObject { ["project_id"] = project.ToString(), ["title"] = "a" }.ToJsonString());

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.Equal(["must be 1 to 255 visible ASCII characters"], problem.Errors("Idempotency-Key"));
    }
}
