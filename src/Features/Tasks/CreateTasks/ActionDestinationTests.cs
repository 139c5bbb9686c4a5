using System.Net;
using System.Text.Json.Nodes;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Tasks.CreateTasks;

/// <summary>The production default: action URLs may not point into the service's own network.</summary>
public sealed class ProductionDestinationsFixture : ServiceFixture
{
    protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
        BaseSettings(connectionString).Append(new("Tasks:AllowPrivateActionDestinations", "false"));
}

public sealed class ActionDestinationTests(ProductionDestinationsFixture service) : IClassFixture<ProductionDestinationsFixture>
{
    [Theory]
    [InlineData("http://127.0.0.1:8080/hook", "must not point at a loopback, private or link-local address")]
    [InlineData("http://10.1.2.3/hook", "must not point at a loopback, private or link-local address")]
    [InlineData("http://169.254.169.254/latest/meta-data", "must not point at a loopback, private or link-local address")]
    [InlineData("http://[::1]/hook", "must not point at a loopback, private or link-local address")]
    [InlineData("http://[::ffff:10.0.0.1]/hook", "must not point at a loopback, private or link-local address")]
    [InlineData("http://[64:ff9b::a9fe:a9fe]/latest/meta-data", "must not point at a loopback, private or link-local address")]
    [InlineData("http://[2002:a00:1::1]/hook", "must not point at a loopback, private or link-local address")]
    [InlineData("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook", "must not point at a loopback, private or link-local address")]
    [InlineData("http://198.18.0.1/hook", "must not point at a loopback, private or link-local address")]
    [InlineData("http://192.0.0.170/hook", "must not point at a loopback, private or link-local address")]
    [InlineData("http://localhost/hook", "must not point at an internal host name")]
    [InlineData("http://metadata.google.internal/", "must not point at an internal host name")]
    public async Task InternalDestinationsAreRefused(string url, string message)
    {
        var account = await service.CreateUserAsync();
        var project = await service.CreateProjectAsync(account);
        using var client = await service.ClientForAsync(account);

        using var response = await client.PostAsync("/api/v1/tasks", TestJson.Raw(new JsonObject
        {
            ["project_id"] = project.ToString(),
            ["title"] = "hook",
            ["actions"] = new JsonArray(new JsonObject { ["trigger"] = "start", ["url"] = url }),
        }.ToJsonString()));

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal([message], problem.Errors("actions[0].url"));
    }

    [Fact]
    public async Task PublicDestinationsAreAccepted()
    {
        var account = await service.CreateUserAsync();
        var project = await service.CreateProjectAsync(account);
        using var client = await service.ClientForAsync(account);

        using var response = await client.PostAsync("/api/v1/tasks", TestJson.Raw(new JsonObject
        {
            ["project_id"] = project.ToString(),
            ["title"] = "hook",
            ["actions"] = new JsonArray(new JsonObject
            {
                ["trigger"] = "success", ["url"] = "https://hooks.example.com/done", ["headers"] = new JsonObject { ["X-Team"] = "data" },
            }),
        }.ToJsonString()));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var action = (await response.ReadJsonAsync()).GetProperty("actions")[0];
        Assert.Equal("POST", action.GetProperty("method").GetString());
        Assert.Equal(TaskRunner.Features.Webhooks.ActionHeaders.Redacted, action.GetProperty("headers").GetProperty("X-Team").GetString());
    }
}

/// <summary>A service that lets actions send only to port 443.</summary>
public sealed class HttpsPortOnlyFixture : ServiceFixture
{
    protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
        BaseSettings(connectionString).Append(new("Tasks:AllowedActionPorts", "443"));
}

public sealed class AllowedActionPortsTests(HttpsPortOnlyFixture service) : IClassFixture<HttpsPortOnlyFixture>
{
    [Fact]
    public async Task AnActionOnAPortThatIsNotAllowedIsRefusedAndOneOnAnAllowedPortIsNot()
    {
        var account = await service.CreateUserAsync();
        var project = await service.CreateProjectAsync(account);
        using var client = await service.ClientForAsync(account);

        using var response = await client.PostAsync("/api/v1/tasks", TestJson.Raw(new JsonObject
        {
            ["project_id"] = project.ToString(),
            ["title"] = "hook",
            ["actions"] = new JsonArray(
                new JsonObject { ["trigger"] = "start", ["url"] = "https://hooks.example.com/start" },
                new JsonObject { ["trigger"] = "end", ["url"] = "http://hooks.example.com:8080/end" }),
        }.ToJsonString()));

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal(["must use one of the allowed ports: 443"], problem.Errors("actions[1].url"));
        Assert.False(problem.GetProperty("errors").TryGetProperty("actions[0].url", out _));
    }
}
