using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace TaskRunner.Tests.Harness;

/// <summary>
/// Request bodies for tests. The test process runs with reflection-based JSON switched off (as the AOT binary does), so
/// bodies are built as JSON nodes rather than serialized anonymous objects.
/// </summary>
public static class TestJson
{
    public static StringContent Body(params (string Name, object? Value)[] properties)
    {
        var body = new JsonObject();
        foreach (var (name, value) in properties)
            body[name] = Node(value);
        return Raw(body.ToJsonString());
    }

    public static StringContent Raw(string json) =>
        new(json, Encoding.UTF8, new MediaTypeHeaderValue("application/json"));

    private static JsonNode? Node(object? value) => value switch
    {
        null => null,
        JsonNode node => node,
        string text => JsonValue.Create(text),
        bool flag => JsonValue.Create(flag),
        int number => JsonValue.Create(number),
        long number => JsonValue.Create(number),
        double number => JsonValue.Create(number),
        Guid id => JsonValue.Create(id.ToString()),
        DateTime time => JsonValue.Create(time.ToUniversalTime().ToString("O")),
        DateTimeOffset time => JsonValue.Create(time.ToUniversalTime().ToString("O")),
        IEnumerable<object?> items => new JsonArray(items.Select(Node).ToArray()),
        _ => throw new ArgumentException($"no JSON mapping for {value.GetType().Name}", nameof(value)),
    };
}
