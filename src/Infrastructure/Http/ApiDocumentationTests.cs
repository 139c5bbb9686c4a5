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

    /// <summary>
    /// The reference's completeness rule. Every body and every answer with content carries an example that fits its schema
    /// (no field the schema lacks, every field it requires), and every /api/v1 operation declares the 429 of the rate limits
    /// and the 503 of timeouts and outages. A new request or response type fails here until its example is added to
    /// src/Infrastructure/Http/ApiExamples.json under its schema name (OpenApiExamples.cs says how).
    /// </summary>
    [Fact]
    public async Task EveryOperationHasExamplesThatFitTheirSchemasAndDeclaresItsProblemResponses()
    {
        var root = JsonDocument.Parse(await DocumentTextAsync()).RootElement.Clone();
        var schemas = root.GetProperty("components").GetProperty("schemas");
        var faults = new List<string>();
        foreach (var path in root.GetProperty("paths").EnumerateObject())
        {
            foreach (var operation in path.Value.EnumerateObject().Where(member => member.Value.TryGetProperty("responses", out _)))
            {
                var name = $"{operation.Name.ToUpperInvariant()} {path.Name}";
                if (operation.Value.TryGetProperty("requestBody", out var body))
                    CheckExamples(faults, schemas, $"{name} request body", body);
                var responses = operation.Value.GetProperty("responses");
                foreach (var response in responses.EnumerateObject())
                    CheckExamples(faults, schemas, $"{name} response {response.Name}", response.Value);
                if (path.Name.StartsWith("/api/v1/", StringComparison.Ordinal))
                {
                    foreach (var status in new[] { "429", "503" }.Where(status => !responses.TryGetProperty(status, out _)))
                        faults.Add($"{name} does not declare {status}");
                }
            }
        }

        Assert.True(faults.Count == 0, "Add the missing examples to src/Infrastructure/Http/ApiExamples.json (keyed by schema name, "
            + "or \"OperationId media/type\" for other media):\n" + string.Join("\n", faults));
    }

    /// <summary>
    /// Summaries are the navigation labels of /api/docs: a few words each, distinct, the detail in the description.
    /// </summary>
    [Fact]
    public async Task EveryOperationHasAShortDistinctSummary()
    {
        var root = JsonDocument.Parse(await DocumentTextAsync()).RootElement;
        var summaries = root.GetProperty("paths").EnumerateObject()
            .SelectMany(path => path.Value.EnumerateObject()
                .Where(member => member.Value.TryGetProperty("responses", out _))
                .Select(operation => (
                    Name: $"{operation.Name.ToUpperInvariant()} {path.Name}",
                    Summary: operation.Value.TryGetProperty("summary", out var summary) ? summary.GetString() ?? "" : "")))
            .ToList();

        var faults = summaries
            .Where(operation => operation.Summary.Length == 0 || operation.Summary.Split(' ').Length > 6 || operation.Summary.EndsWith('.'))
            .Select(operation => $"{operation.Name}: \"{operation.Summary}\"")
            .Concat(summaries.GroupBy(operation => operation.Summary).Where(same => same.Count() > 1)
                .Select(same => $"\"{same.Key}\" labels {string.Join(", ", same.Select(operation => operation.Name))}"))
            .ToList();

        Assert.True(faults.Count == 0, "Summaries must be 1 to 6 words without a full stop, one per operation:\n" + string.Join("\n", faults));
    }

    private static void CheckExamples(List<string> faults, JsonElement schemas, string where, JsonElement bodyOrResponse)
    {
        if (!bodyOrResponse.TryGetProperty("content", out var content))
            return;
        foreach (var media in content.EnumerateObject())
        {
            if (!media.Value.TryGetProperty("example", out var example))
                faults.Add($"{where} ({media.Name}) has no example");
            else if (media.Name.EndsWith("json", StringComparison.Ordinal) && media.Value.TryGetProperty("schema", out var schema))
                CheckFits(faults, schemas, $"{where} ({media.Name}) example", example, schema);
        }
    }

    /// <summary>An example object has only the schema's properties and all of its required ones, down through references and items.</summary>
    private static void CheckFits(List<string> faults, JsonElement schemas, string where, JsonElement example, JsonElement schema)
    {
        if (schema.TryGetProperty("$ref", out var reference))
        {
            CheckFits(faults, schemas, where, example, schemas.GetProperty(reference.GetString()!["#/components/schemas/".Length..]));
            return;
        }
        if (schema.TryGetProperty("oneOf", out var choices))
        {
            foreach (var choice in choices.EnumerateArray().Where(choice => !(choice.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.GetString() == "null")))
                CheckFits(faults, schemas, where, example, choice);
            return;
        }
        if (example.ValueKind == JsonValueKind.Array && schema.TryGetProperty("items", out var items))
        {
            foreach (var item in example.EnumerateArray())
                CheckFits(faults, schemas, where + "[]", item, items);
            return;
        }
        if (example.ValueKind != JsonValueKind.Object || !schema.TryGetProperty("properties", out var properties))
            return;
        foreach (var field in example.EnumerateObject())
        {
            if (!properties.TryGetProperty(field.Name, out var fieldSchema))
            {
                if (schema.TryGetProperty("additionalProperties", out var others) && others.ValueKind == JsonValueKind.False)
                    faults.Add($"{where} has {field.Name}, which its schema does not declare");
            }
            else
            {
                CheckFits(faults, schemas, $"{where}.{field.Name}", field.Value, fieldSchema);
            }
        }
        if (schema.TryGetProperty("required", out var required))
        {
            foreach (var field in required.EnumerateArray().Select(field => field.GetString()!).Where(field => !example.TryGetProperty(field, out _)))
                faults.Add($"{where} lacks {field}, which its schema requires");
        }
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
