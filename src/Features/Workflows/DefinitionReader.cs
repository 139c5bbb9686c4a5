using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using TaskRunner.Infrastructure.Http;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlScalar = YamlDotNet.Core.Events.Scalar;

namespace TaskRunner.Features.Workflows;

/// <summary>A definition body read into one JSON tree, with where each node stood in a YAML source.</summary>
internal sealed class DefinitionDocument(JsonNode root, string format, Dictionary<string, Mark>? positions)
{
    public const string Yaml = "yaml";
    public const string Json = "json";

    public JsonNode Root { get; } = root;

    /// <summary><see cref="Yaml"/> or <see cref="Json"/>.</summary>
    public string Format { get; } = format;

    /// <summary>" (line 3, column 7)" for the node at <paramref name="path"/> (or its nearest ancestor) of a YAML source; "" for JSON.</summary>
    public string Where(string path)
    {
        if (positions is null)
            return "";
        for (var probe = path; probe.Length > 0; probe = Parent(probe))
            if (positions.TryGetValue(probe, out var mark))
                return $" (line {mark.Line}, column {mark.Column})";
        return "";
    }

    private static string Parent(string path)
    {
        var cut = Math.Max(path.LastIndexOf('.'), path.LastIndexOf('['));
        return cut <= 0 ? "" : path[..cut];
    }
}

/// <summary>Why a body could not be read: <see cref="Malformed"/> bodies are a 400, the others a 422 on <see cref="Path"/>.</summary>
internal sealed record DefinitionReadError(bool Malformed, string Path, string Message);

/// <summary>
/// Reads a definition written in YAML or JSON into a <see cref="JsonNode"/> tree, so one validator serves both. YAML goes
/// through YamlDotNet's event parser (no object mapping, no reflection) and the YAML 1.2 core schema for plain scalars.
/// Guards: the body must be UTF-8; nesting is capped at <see cref="MaxNesting"/>; the tree, with every alias expanded, at
/// a node budget (a "billion laughs" document is refused after counting, before anything is copied); duplicate keys,
/// several documents, custom tags and non-text keys are refused.
/// </summary>
internal static partial class DefinitionReader
{
    public const int MaxNesting = 64;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static (DefinitionDocument? Document, DefinitionReadError? Error) Read(ReadOnlySpan<byte> body, string format, int maxNodes)
    {
        if (!System.Text.Unicode.Utf8.IsValid(body))
            return (null, new DefinitionReadError(true, "body", "is not valid UTF-8"));
        if (body.Contains((byte)0))
            return (null, new DefinitionReadError(false, "body", StorableJson.Problem));
        if (body.StartsWith("\uFEFF"u8))
            body = body[3..];
        try
        {
            return format == DefinitionDocument.Yaml
                ? (new YamlTreeBuilder(StrictUtf8.GetString(body), maxNodes).Build(), null)
                : (JsonTreeBuilder.Build(body, maxNodes), null);
        }
        catch (RefusedDocumentException refused)
        {
            return (null, new DefinitionReadError(false, refused.Path, refused.Message));
        }
        catch (YamlException yaml)
        {
            return (null, new DefinitionReadError(false, "body",
                $"is not valid YAML (line {yaml.Start.Line}, column {yaml.Start.Column}): {YamlReason(yaml)}"));
        }
        catch (JsonException json)
        {
            return (null, new DefinitionReadError(true, "body",
                $"is not valid JSON (line {json.LineNumber + 1}, byte {json.BytePositionInLine + 1})"));
        }
    }

    /// <summary>YamlDotNet prefixes its messages with both marks; the position is reported separately.</summary>
    private static string YamlReason(YamlException yaml)
    {
        var message = yaml.Message;
        var cut = message.IndexOf("): ", StringComparison.Ordinal);
        return cut >= 0 ? message[(cut + 3)..] : message;
    }

    private sealed class RefusedDocumentException(string path, string message) : Exception(message)
    {
        public string Path { get; } = path.Length == 0 ? "body" : path;
    }

    private static string Child(string path, string key) => path.Length == 0 ? key : path + "." + key;

    private sealed partial class YamlTreeBuilder(string text, int maxNodes)
    {
        private readonly Parser parser = new(new StringReader(text));
        private readonly Dictionary<string, (JsonNode? Node, int Count)> anchors = new(StringComparer.Ordinal);
        private readonly Dictionary<string, Mark> positions = new(StringComparer.Ordinal);
        private int nodes;

        public DefinitionDocument Build()
        {
            parser.Consume<StreamStart>();
            if (parser.Accept<StreamEnd>(out _))
                throw new RefusedDocumentException("", "is empty: a definition is a mapping with name and tasks");
            parser.Consume<DocumentStart>();
            var root = ReadNode("", 1);
            parser.Consume<DocumentEnd>();
            if (!parser.Accept<StreamEnd>(out _))
                throw new RefusedDocumentException("", $"holds more than one YAML document{At(parser.Current!.Start)}");
            if (root is null)
                throw new RefusedDocumentException("", "is empty: a definition is a mapping with name and tasks");
            return new DefinitionDocument(root, DefinitionDocument.Yaml, positions);
        }

        private static string At(Mark mark) => $" (line {mark.Line}, column {mark.Column})";

        private void Count(int added, string path, Mark mark)
        {
            nodes += added;
            if (nodes > maxNodes)
                throw new RefusedDocumentException(path,
                    $"expands to more than {maxNodes} nodes (aliases count as copies of what they name){At(mark)}");
        }

        private JsonNode? ReadNode(string path, int depth)
        {
            if (!parser.Accept<ParsingEvent>(out var current))
                throw new RefusedDocumentException(path, "ends where a value was expected");
            // A mapping value keeps its key's position (where an unknown or misspelt field is best pointed at).
            positions.TryAdd(path.Length == 0 ? "body" : path, current.Start);
            parser.MoveNext();
            switch (current)
            {
                case AnchorAlias alias:
                    if (!anchors.TryGetValue(alias.Value.Value, out var anchored))
                        throw new RefusedDocumentException(path, $"names an unknown anchor '{alias.Value.Value}'{At(current.Start)}");
                    Count(anchored.Count, path, current.Start);
                    return anchored.Node?.DeepClone();
                case YamlScalar scalar:
                {
                    Count(1, path, current.Start);
                    if (!StorableJson.IsStorable(scalar.Value))
                        throw new RefusedDocumentException(path, $"{StorableJson.Problem}{At(scalar.Start)}");
                    var value = ScalarValue(scalar, path);
                    Remember(scalar, value, 1);
                    return value;
                }
                case SequenceStart sequence:
                {
                    Nest(path, depth, current.Start);
                    Count(1, path, current.Start);
                    var before = nodes;
                    var array = new JsonArray();
                    while (!parser.TryConsume<SequenceEnd>(out _))
                        array.Add(ReadNode($"{path}[{array.Count}]", depth + 1));
                    Remember(sequence, array, nodes - before + 1);
                    return array;
                }
                case MappingStart mapping:
                {
                    Nest(path, depth, current.Start);
                    Count(1, path, current.Start);
                    var before = nodes;
                    var map = new JsonObject();
                    while (!parser.TryConsume<MappingEnd>(out _))
                    {
                        if (!parser.TryConsume<YamlScalar>(out var key) || !key.Anchor.IsEmpty)
                            throw new RefusedDocumentException(path, $"has a key that is not plain text{At(parser.Current!.Start)}");
                        if (!StorableJson.IsStorable(key.Value))
                            throw new RefusedDocumentException(path, $"has a key that {StorableJson.Problem}{At(key.Start)}");
                        var keyPath = Child(path, key.Value);
                        if (map.ContainsKey(key.Value))
                            throw new RefusedDocumentException(keyPath, $"is a duplicate key{At(key.Start)}");
                        positions[keyPath] = key.Start;
                        map[key.Value] = ReadNode(keyPath, depth + 1);
                    }
                    Remember(mapping, map, nodes - before + 1);
                    return map;
                }
                default:
                    throw new RefusedDocumentException(path, $"holds an unexpected {current.GetType().Name}{At(current.Start)}");
            }
        }

        private static void Nest(string path, int depth, Mark mark)
        {
            if (depth > MaxNesting)
                throw new RefusedDocumentException(path, $"nests deeper than {MaxNesting} levels{At(mark)}");
        }

        private void Remember(NodeEvent node, JsonNode? value, int count)
        {
            if (!node.Anchor.IsEmpty)
                anchors[node.Anchor.Value] = (value, count);
        }

        private static JsonValue? ScalarValue(YamlScalar scalar, string path)
        {
            if (!scalar.Tag.IsEmpty && !scalar.Tag.IsNonSpecific)
            {
                if (scalar.Tag.Value == "tag:yaml.org,2002:str")
                    return JsonValue.Create(scalar.Value);
                throw new RefusedDocumentException(path, $"carries the tag {scalar.Tag.Value}; only plain YAML is read{At(scalar.Start)}");
            }
            if (scalar.Style != ScalarStyle.Plain)
                return JsonValue.Create(scalar.Value);
            var text = scalar.Value;
            switch (text)
            {
                case "" or "~" or "null" or "Null" or "NULL":
                    return null;
                case "true" or "True" or "TRUE":
                    return JsonValue.Create(true);
                case "false" or "False" or "FALSE":
                    return JsonValue.Create(false);
                case ".inf" or ".Inf" or ".INF" or "+.inf" or "+.Inf" or "+.INF" or "-.inf" or "-.Inf" or "-.INF" or ".nan" or ".NaN" or ".NAN":
                    throw new RefusedDocumentException(path, $"is {text}, which has no JSON form; quote it to mean text{At(scalar.Start)}");
            }
            if (IntegerPattern().IsMatch(text) && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer))
                return JsonValue.Create(integer);
            if (text.StartsWith("0x", StringComparison.Ordinal)
                && long.TryParse(text.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var hex))
                return JsonValue.Create(hex);
            if (text.StartsWith("0o", StringComparison.Ordinal) && text.Length > 2 && text.AsSpan(2).IndexOfAnyExceptInRange('0', '7') < 0)
                return JsonValue.Create(Convert.ToInt64(text[2..], 8));
            if (FloatPattern().IsMatch(text) && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number)
                && double.IsFinite(number))
                return JsonValue.Create(number);
            return JsonValue.Create(text);
        }

        [GeneratedRegex("^[-+]?[0-9]+$", RegexOptions.CultureInvariant)]
        private static partial Regex IntegerPattern();

        [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$", RegexOptions.CultureInvariant)]
        private static partial Regex FloatPattern();
    }

    /// <summary>JSON through the raw reader, so duplicate keys and nesting are refused by path before a tree is built.</summary>
    private static class JsonTreeBuilder
    {
        public static DefinitionDocument Build(ReadOnlySpan<byte> body, int maxNodes)
        {
            // The reader's own depth limit sits far above ours: ours is met first and answered as a 422 with a path.
            var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = MaxNesting * 4 });
            var containers = new Stack<(JsonNode Node, string Path)>();
            string? pendingKey = null;
            JsonNode? root = null;
            var nodes = 0;
            var complete = false;
            while (reader.Read())
            {
                if (complete)
                    throw new JsonException("Trailing data after the document.", null, 0, reader.BytesConsumed);
                if (reader.TokenType == JsonTokenType.PropertyName)
                {
                    if (reader.ValueIsEscaped && !StorableJson.IsStorable(reader.ValueSpan))
                        throw new RefusedDocumentException(containers.Peek().Path, $"has a key that {StorableJson.Problem}");
                    pendingKey = reader.GetString()!;
                    var (parent, parentPath) = containers.Peek();
                    if (((JsonObject)parent).ContainsKey(pendingKey))
                        throw new RefusedDocumentException(Child(parentPath, pendingKey), "is a duplicate key");
                    continue;
                }
                if (reader.TokenType is JsonTokenType.EndObject or JsonTokenType.EndArray)
                {
                    containers.Pop();
                    complete = containers.Count == 0;
                    continue;
                }
                var path = containers.Count == 0 ? ""
                    : containers.Peek().Node is JsonArray array ? $"{containers.Peek().Path}[{array.Count}]"
                    : Child(containers.Peek().Path, pendingKey!);
                if (++nodes > maxNodes)
                    throw new RefusedDocumentException(path, $"holds more than {maxNodes} nodes");
                if (reader.TokenType == JsonTokenType.String && reader.ValueIsEscaped && !StorableJson.IsStorable(reader.ValueSpan))
                    throw new RefusedDocumentException(path, StorableJson.Problem);
                JsonNode? node = reader.TokenType switch
                {
                    JsonTokenType.StartObject => new JsonObject(),
                    JsonTokenType.StartArray => new JsonArray(),
                    JsonTokenType.String => JsonValue.Create(reader.GetString()!),
                    JsonTokenType.Number when reader.TryGetInt64(out var integer) => JsonValue.Create(integer),
                    JsonTokenType.Number => JsonValue.Create(reader.GetDouble()),
                    JsonTokenType.True => JsonValue.Create(true),
                    JsonTokenType.False => JsonValue.Create(false),
                    _ => null,
                };
                if (containers.Count == 0)
                    root = node;
                else if (containers.Peek().Node is JsonArray parentArray)
                    parentArray.Add(node);
                else
                    containers.Peek().Node.AsObject()[pendingKey!] = node;
                if (node is JsonObject or JsonArray)
                {
                    if (containers.Count + 1 > MaxNesting)
                        throw new RefusedDocumentException(path, $"nests deeper than {MaxNesting} levels");
                    containers.Push((node, path));
                }
                else
                    complete = containers.Count == 0;
            }
            if (root is null)
                throw new RefusedDocumentException("", "is empty: a definition is an object with name and tasks");
            return new DefinitionDocument(root, DefinitionDocument.Json, null);
        }
    }
}
