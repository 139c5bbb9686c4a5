using System.Net;
using System.Text.Json.Nodes;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Execution;

public sealed class HeartbeatTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task AHeartbeatExtendsOnlyTheLease()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var id = await worker.CreateIdAsync("long job", body => body["timeout_seconds"] = 600);
        var claimed = await worker.ClaimAsync(leaseSeconds: 10);
        var version = await service.ScalarAsync<long>("SELECT version FROM tasks WHERE id = $1", id);

        using var response = await worker.PostAsync($"/api/v1/tasks/{id}/heartbeat",
            new JsonObject { ["lease_token"] = claimed[0].GetProperty("lease_token").GetInt64(), ["lease_seconds"] = 120 });

        var body = await response.ReadJsonAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.InRange((body.GetProperty("lease_expires_at").GetDateTime().ToUniversalTime() - DateTime.UtcNow).TotalSeconds, 100, 130);
        Assert.InRange((body.GetProperty("timeout_at").GetDateTime().ToUniversalTime() - DateTime.UtcNow).TotalSeconds, 580, 610);
        Assert.Equal(version, await service.ScalarAsync<long>("SELECT version FROM tasks WHERE id = $1", id));
    }

    [Fact]
    public async Task AHeartbeatForACancelledTaskTellsTheWorkerToStop()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var id = await worker.CreateIdAsync("doomed");
        var token = (await worker.ClaimOneAsync()).GetProperty("lease_token").GetInt64();
        using (var cancel = await worker.PostAsync($"/api/v1/tasks/{id}/cancel"))
            Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);

        using var response = await worker.PostAsync($"/api/v1/tasks/{id}/heartbeat", new JsonObject { ["lease_token"] = token });
        using var complete = await worker.CompleteAsync(id, token);

        var problem = await response.AssertProblemAsync(HttpStatusCode.Conflict);
        Assert.True(problem.GetProperty("cancelled").GetBoolean());
        await complete.AssertProblemAsync(HttpStatusCode.Conflict);
        Assert.Equal("cancelled", await worker.StatusAsync(id));
    }

    [Fact]
    public async Task AHeartbeatWithAWrongTokenOrForAnUnknownTaskIsRefused()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var id = await worker.CreateIdAsync("job");
        var token = (await worker.ClaimOneAsync()).GetProperty("lease_token").GetInt64();

        using var wrong = await worker.PostAsync($"/api/v1/tasks/{id}/heartbeat", new JsonObject { ["lease_token"] = token + 1 });
        using var unknown = await worker.PostAsync($"/api/v1/tasks/{Guid.NewGuid()}/heartbeat", new JsonObject { ["lease_token"] = token });
        using var missing = await worker.PostAsync($"/api/v1/tasks/{id}/heartbeat", new JsonObject());

        var problem = await wrong.AssertProblemAsync(HttpStatusCode.Conflict);
        Assert.False(problem.TryGetProperty("cancelled", out _));
        await unknown.AssertProblemAsync(HttpStatusCode.NotFound);
        Assert.Equal(["is required"], (await missing.AssertProblemAsync(HttpStatusCode.UnprocessableEntity)).Errors("lease_token"));
    }
}
