using System.Text.Json;

namespace TaskRunner.Tests.Harness;

/// <summary>One parameter of an operation as the OpenAPI document declares it (<c>in</c> is path, query or header).</summary>
public sealed record OpenApiParameter(string Name, string In, JsonElement Schema);

/// <summary>One operation of the service's OpenAPI document: <c>GET /api/v1/tasks/{id}</c> with its parameters and body schema.</summary>
public sealed record OpenApiOperation(string Method, string PathTemplate, IReadOnlyList<OpenApiParameter> Parameters, JsonElement? BodySchema)
{
    public string Key => $"{Method} {PathTemplate}";

    public bool TakesAnId => PathTemplate.Contains('{', StringComparison.Ordinal);
}

/// <summary>
/// The service's own OpenAPI document (<c>/openapi/v1.json</c>), read at test time so the suites built on it follow the routes
/// that exist: a new route is fuzzed and must be classified without anyone editing a list first.
/// </summary>
public sealed class OpenApiDocument
{
    private static readonly string[] Methods = ["get", "post", "put", "patch", "delete"];

    private readonly JsonElement schemas;

    private OpenApiDocument(JsonElement root)
    {
        schemas = root.GetProperty("components").GetProperty("schemas");
        var operations = new List<OpenApiOperation>();
        foreach (var path in root.GetProperty("paths").EnumerateObject())
        {
            foreach (var method in Methods)
            {
                if (!path.Value.TryGetProperty(method, out var operation))
                    continue;
                var parameters = operation.TryGetProperty("parameters", out var declared)
                    ? declared.EnumerateArray()
                        .Select(parameter => new OpenApiParameter(
                            parameter.GetProperty("name").GetString()!,
                            parameter.GetProperty("in").GetString()!,
                            parameter.TryGetProperty("schema", out var schema) ? schema : default))
                        .ToList()
                    : [];
                JsonElement? body = operation.TryGetProperty("requestBody", out var requestBody)
                    && requestBody.GetProperty("content").TryGetProperty("application/json", out var json)
                        ? json.GetProperty("schema")
                        : null;
                operations.Add(new OpenApiOperation(method.ToUpperInvariant(), path.Name, parameters, body));
            }
        }
        Operations = operations;
    }

    public IReadOnlyList<OpenApiOperation> Operations { get; }

    public static async Task<OpenApiDocument> FetchAsync(HttpClient client)
    {
        using var response = await client.GetAsync("/openapi/v1.json");
        response.EnsureSuccessStatusCode();
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return new OpenApiDocument(document.RootElement.Clone());
    }

    /// <summary>The schema a <c>$ref</c> points to (or the schema itself); <c>oneOf [null, X]</c> resolves to X.</summary>
    public JsonElement Resolve(JsonElement schema)
    {
        if (schema.ValueKind != JsonValueKind.Object)
            return schema;
        if (schema.TryGetProperty("$ref", out var reference))
            return Resolve(schemas.GetProperty(reference.GetString()!["#/components/schemas/".Length..]));
        if (schema.TryGetProperty("oneOf", out var choices))
        {
            foreach (var choice in choices.EnumerateArray())
            {
                var resolved = Resolve(choice);
                if (!IsNullOnly(resolved))
                    return resolved;
            }
        }
        return schema;
    }

    /// <summary>The schema's JSON type other than null (<c>["null","string"]</c> is string); null when it declares none.</summary>
    public static string? TypeOf(JsonElement schema)
    {
        if (schema.ValueKind != JsonValueKind.Object || !schema.TryGetProperty("type", out var type))
            return null;
        if (type.ValueKind == JsonValueKind.String)
            return type.GetString();
        return type.EnumerateArray().Select(item => item.GetString()).FirstOrDefault(name => name != "null");
    }

    public static string? FormatOf(JsonElement schema) =>
        schema.ValueKind == JsonValueKind.Object && schema.TryGetProperty("format", out var format) ? format.GetString() : null;

    private static bool IsNullOnly(JsonElement schema) =>
        schema.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.GetString() == "null";
}
