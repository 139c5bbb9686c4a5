using System.Text.Json.Nodes;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Http;

/// <summary><c>fields</c> is offered by every GET of one resource, as by every list; its answer keeps only those fields.</summary>
public sealed class ResourceResultTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    // Single-resource reads: the last segment of the path is the resource's id or number, or names the caller's own record.
    private static bool ReadsOneResource(OpenApiOperation operation) =>
        operation.Method == "GET"
        && (operation.PathTemplate.EndsWith('}') || operation.PathTemplate == "/api/v1/users/me");

    [Fact]
    public async Task EveryGetOfOneResourceOffersFields()
    {
        using var client = service.CreateClient();
        var document = await OpenApiDocument.FetchAsync(client);

        var withoutFields = document.Operations
            .Where(ReadsOneResource)
            .Where(operation => !operation.Parameters.Any(parameter => parameter is { Name: "fields", In: "query" }))
            .Select(operation => operation.Key)
            .ToList();

        Assert.Contains(document.Operations, ReadsOneResource);
        Assert.Empty(withoutFields);
    }

    [Fact]
    public async Task FieldsNarrowsTheProjectTheUserAndTheBatch()
    {
        using var project = await service.CreateProjectAsync();
        using var bulk = await project.OwnerClient.PostAsync("/api/v1/tasks/bulk", TestJson.Raw(new JsonObject
        {
            ["project_id"] = project.Id.ToString(),
            ["tasks"] = new JsonArray(new JsonObject { ["title"] = "one" }),
        }.ToJsonString()));
        var batchId = (await bulk.ReadJsonAsync()).GetProperty("batch_id").GetString();

        using var projectResponse = await project.OwnerClient.GetAsync($"/api/v1/projects/{project.Id}?fields=name");
        using var me = await project.OwnerClient.GetAsync("/api/v1/users/me?fields=id,role");
        using var batchResponse = await project.OwnerClient.GetAsync($"/api/v1/batches/{batchId}?fields=total");

        Assert.Equal(["name"], (await projectResponse.ReadJsonAsync()).EnumerateObject().Select(field => field.Name));
        Assert.Equal(["id", "role"], (await me.ReadJsonAsync()).EnumerateObject().Select(field => field.Name));
        Assert.Equal(1, (await batchResponse.ReadJsonAsync()).GetProperty("total").GetInt32());
        Assert.Single((await batchResponse.ReadJsonAsync()).EnumerateObject());
    }
}
