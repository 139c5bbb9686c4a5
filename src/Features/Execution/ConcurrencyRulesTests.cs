using System.Net;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Execution;

public sealed class ConcurrencyRulesTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task AdminsCreateListAndDeleteRulesAndAKeyHasOneRule()
    {
        using var admin = await service.ClientForNewUserAsync("admin");
        var key = "rules-" + Guid.NewGuid().ToString("N");

        using var created = await admin.PostAsync("/api/v1/concurrency-rules", TestJson.Body(("concurrency_key", key), ("max_running", 2)));
        using var duplicate = await admin.PostAsync("/api/v1/concurrency-rules", TestJson.Body(("concurrency_key", key), ("max_running", 5)));
        using var list = await admin.GetAsync("/api/v1/concurrency-rules");

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var rule = await created.ReadJsonAsync();
        Assert.Equal(2, rule.GetProperty("max_running").GetInt32());
        await duplicate.AssertProblemAsync(HttpStatusCode.Conflict);
        Assert.Contains((await list.ReadJsonAsync()).GetProperty("data").EnumerateArray(), item => item.GetProperty("concurrency_key").GetString() == key);
        using var deleted = await admin.DeleteAsync($"/api/v1/concurrency-rules/{rule.GetProperty("id").GetString()}");
        using var again = await admin.DeleteAsync($"/api/v1/concurrency-rules/{rule.GetProperty("id").GetString()}");
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        await again.AssertProblemAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task MembersMayReadRulesButNotChangeThem()
    {
        using var member = await service.ClientForNewUserAsync();

        using var create = await member.PostAsync("/api/v1/concurrency-rules", TestJson.Body(("concurrency_key", "mine"), ("max_running", 1)));
        using var list = await member.GetAsync("/api/v1/concurrency-rules");

        await create.AssertProblemAsync(HttpStatusCode.Forbidden);
        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
    }

    [Fact]
    public async Task InvalidRulesAreRejected()
    {
        using var admin = await service.ClientForNewUserAsync("admin");

        using var response = await admin.PostAsync("/api/v1/concurrency-rules", TestJson.Body(("max_running", 0)));

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal(["is required"], problem.Errors("concurrency_key"));
        Assert.Single(problem.Errors("max_running"));
    }
}
