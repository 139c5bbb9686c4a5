using System.Net;
using System.Text.Json;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Http;

/// <summary>The OpenAPI document as generated clients and linters read it.</summary>
public sealed class ApiDocumentationTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private readonly HttpClient client = service.CreateClient();

    [Fact]
    public async Task TheOpenApiDocumentHasNoLintErrors()
    {
        var path = Path.Combine(Path.GetTempPath(), $"taskrunner-openapi-{Guid.NewGuid():N}.json");
        try
        {
            await File.WriteAllTextAsync(path, await DocumentTextAsync());

            var lint = await Scripts.ExecuteAsync("scripts/openapi-lint.sh", path);

            Assert.True(lint.ExitCode == 0, $"scripts/openapi-lint.sh found errors in /openapi/v1.json:\n{lint.Output}\n{lint.Error}");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task ARequestSchemaRequiresOnlyTheFieldsItsValidationDemands()
    {
        var schemas = await SchemasAsync();

        Assert.Equal(["title"], Required(schemas, "CreateTaskRequest"));
        Assert.Equal(["email", "password"], Required(schemas, "LoginRequest"));
        Assert.Equal(["ids", "set"], Required(schemas, "BulkUpdateTasksRequest"));
        Assert.Empty(Required(schemas, "UpdateTaskRequest"));
        // An optional request field may be sent as null, meaning absent.
        Assert.Contains("null", Types(schemas, "CreateTaskRequest", "description"));
    }

    [Fact]
    public async Task AResponseSchemaRequiresWhatIsAlwaysWrittenAndItsOptionalFieldsAreNeverNull()
    {
        var schemas = await SchemasAsync();

        var task = Required(schemas, "TaskResponse");
        Assert.Contains("id", task);
        Assert.Contains("status", task);
        Assert.DoesNotContain("description", task);
        Assert.Equal(["string"], Types(schemas, "TaskResponse", "description"));
        // next_cursor is always written: null on the last page.
        Assert.Contains("next_cursor", Required(schemas, "ListResponseOfTaskResponse"));
        Assert.Contains("null", Types(schemas, "ListResponseOfTaskResponse", "next_cursor"));
    }

    private async Task<string> DocumentTextAsync()
    {
        using var response = await client.GetAsync("/openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync();
    }

    private async Task<JsonElement> SchemasAsync() =>
        JsonDocument.Parse(await DocumentTextAsync()).RootElement.GetProperty("components").GetProperty("schemas").Clone();

    private static List<string> Required(JsonElement schemas, string name) =>
        schemas.GetProperty(name).TryGetProperty("required", out var required)
            ? required.EnumerateArray().Select(field => field.GetString()!).Order(StringComparer.Ordinal).ToList()
            : [];

    /// <summary>The JSON types a property allows: its <c>type</c> (one or a list), or each choice's of a <c>oneOf</c>.</summary>
    private static List<string> Types(JsonElement schemas, string name, string property)
    {
        var schema = schemas.GetProperty(name).GetProperty("properties").GetProperty(property);
        IEnumerable<JsonElement> choices = schema.TryGetProperty("oneOf", out var oneOf) ? oneOf.EnumerateArray() : [schema];
        return choices.SelectMany(TypesOf).Order(StringComparer.Ordinal).ToList();
    }

    private static IEnumerable<string> TypesOf(JsonElement schema)
    {
        if (!schema.TryGetProperty("type", out var type))
            return ["$ref"];
        if (type.ValueKind == JsonValueKind.Array)
            return type.EnumerateArray().Select(item => item.GetString()!);
        return [type.GetString()!];
    }
}
