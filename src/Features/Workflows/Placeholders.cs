using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace TaskRunner.Features.Workflows;

/// <summary>What placeholders a task template may use: the declared parameters, and <c>item</c> inside a for_each task.</summary>
internal sealed record PlaceholderScope(IReadOnlyList<ParameterSpec> Parameters, bool InForEach, ParameterSpec? Item)
{
    public PlaceholderScope(IReadOnlyList<ParameterSpec> parameters, ParameterSpec? forEach)
        : this(parameters, forEach is not null, forEach?.Items)
    {
    }

    /// <summary>The type an expression renders to, when it is known at definition time.</summary>
    public string? TypeOf(string expression) => expression switch
    {
        Placeholders.RunId => "string",
        Placeholders.Item => Item?.Type,
        _ when expression.StartsWith(Placeholders.ParamsPrefix, StringComparison.Ordinal) =>
            Parameters.FirstOrDefault(parameter => parameter.Name == expression[Placeholders.ParamsPrefix.Length..])?.Type,
        _ => null,
    };
}

/// <summary>The values placeholders render to in one run: its parameters (defaults filled in) and its id.</summary>
internal sealed record RenderValues(IReadOnlyDictionary<string, JsonNode?> Parameters, Guid RunId);

/// <summary>
/// <c>{{ params.name }}</c>, <c>{{ run.id }}</c> and, in a for_each task, <c>{{ item }}</c>. Rendering is one pass over the
/// template: a value is inserted as data and never read for placeholders again, so <c>{{</c> inside a parameter value
/// stays as written. A string that is exactly one placeholder becomes the value itself (a number stays a number) where
/// the field is JSON or a number; inside text, a value is its text (strings as they are, anything else as JSON).
/// </summary>
internal static partial class Placeholders
{
    public const string ParamsPrefix = "params.";
    public const string RunId = "run.id";
    public const string Item = "item";

    [GeneratedRegex(@"\{\{\s*([^{}]*?)\s*\}\}", RegexOptions.CultureInvariant)]
    private static partial Regex Placeholder();

    [GeneratedRegex(@"^\{\{\s*([^{}]*?)\s*\}\}$", RegexOptions.CultureInvariant)]
    private static partial Regex WholePlaceholder();

    /// <summary>The expression when <paramref name="text"/> is exactly one placeholder; otherwise null.</summary>
    public static string? Whole(string text) => WholePlaceholder().Match(text) is { Success: true } match ? match.Groups[1].Value : null;

    /// <summary>Reports each placeholder of <paramref name="text"/> that names nothing in <paramref name="scope"/>.</summary>
    public static void Check(string text, string path, PlaceholderScope scope, DefinitionErrors errors)
    {
        foreach (Match match in Placeholder().Matches(text))
        {
            var expression = match.Groups[1].Value;
            if (expression == RunId)
                continue;
            if (expression == Item)
            {
                if (!scope.InForEach)
                    errors.Add(path, "uses {{ item }} outside a for_each task");
                continue;
            }
            if (expression.StartsWith(ParamsPrefix, StringComparison.Ordinal))
            {
                var name = expression[ParamsPrefix.Length..];
                if (!scope.Parameters.Any(parameter => parameter.Name == name))
                    errors.Add(path, $"uses {{{{ {expression} }}}}, which names the undefined parameter '{name}'");
                continue;
            }
            errors.Add(path, $"uses {{{{ {expression} }}}}, which is not a placeholder: use {{{{ params.NAME }}}}, {{{{ run.id }}}} or, in a for_each task, {{{{ item }}}}");
        }
    }

    /// <summary><see cref="Check"/> on every string of a JSON value (not on its keys).</summary>
    public static void CheckStrings(JsonNode? node, string path, PlaceholderScope scope, DefinitionErrors errors)
    {
        switch (node)
        {
            case JsonObject map:
                foreach (var (key, value) in map)
                    CheckStrings(value, WorkflowDefinitions.Child(path, key), scope, errors);
                break;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                    CheckStrings(array[i], $"{path}[{i}]", scope, errors);
                break;
            case JsonValue value when value.GetValueKind() == JsonValueKind.String:
                Check(value.GetValue<string>(), path, scope, errors);
                break;
        }
    }

    private static JsonNode? Value(string expression, RenderValues values, JsonNode? item) => expression switch
    {
        RunId => JsonValue.Create(values.RunId.ToString()),
        Item => item,
        _ => values.Parameters[expression[ParamsPrefix.Length..]],
    };

    /// <summary>The text with every placeholder replaced by its value's text, in one pass.</summary>
    public static string Render(string text, RenderValues values, JsonNode? item)
    {
        if (!text.Contains("{{", StringComparison.Ordinal))
            return text;
        var rendered = new StringBuilder(text.Length + 32);
        var last = 0;
        foreach (Match match in Placeholder().Matches(text))
        {
            rendered.Append(text, last, match.Index - last).Append(AsText(Value(match.Groups[1].Value, values, item)));
            last = match.Index + match.Length;
        }
        return rendered.Append(text, last, text.Length - last).ToString();
    }

    /// <summary>A copy of a JSON value with its strings rendered; a string that is one placeholder becomes the value itself.</summary>
    public static JsonNode? RenderJson(JsonNode? node, RenderValues values, JsonNode? item)
    {
        switch (node)
        {
            case JsonObject map:
                var renderedMap = new JsonObject();
                foreach (var (key, value) in map)
                    renderedMap[key] = RenderJson(value, values, item);
                return renderedMap;
            case JsonArray array:
                var renderedArray = new JsonArray();
                foreach (var value in array)
                    renderedArray.Add(RenderJson(value, values, item));
                return renderedArray;
            case JsonValue value when value.GetValueKind() == JsonValueKind.String:
                var text = value.GetValue<string>();
                return Whole(text) is { } expression
                    ? Value(expression, values, item)?.DeepClone()
                    : JsonValue.Create(Render(text, values, item));
            default:
                return node?.DeepClone();
        }
    }

    private static string AsText(JsonNode? value) => value switch
    {
        null => "",
        JsonValue text when text.GetValueKind() == JsonValueKind.String => text.GetValue<string>(),
        JsonValue number when number.GetValueKind() == JsonValueKind.Number && number.TryGetValue<long>(out var whole) =>
            whole.ToString(CultureInfo.InvariantCulture),
        _ => value.ToJsonString(),
    };
}
