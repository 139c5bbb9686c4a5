using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Unicode;

namespace TaskRunner.Infrastructure.Http;

/// <summary>
/// Reads free JSON of a request (task metadata and output, follow-up conditions) and refuses invalid UTF-8 inside its strings
/// and property names. System.Text.Json checks UTF-8 only when a string is read as a string, so a <see cref="JsonElement"/>
/// would carry the bad bytes into the handler, where the first read of its text threw (a 500). Refused here, the bad body is
/// a 400 like any other malformed JSON.
/// </summary>
public sealed class ValidUtf8JsonElementConverter : JsonConverter<JsonElement>
{
    public override JsonElement Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        // The serializer buffers a custom converter's whole value before calling it, so a copy of the reader can walk it first.
        var scan = reader;
        Check(ref scan);
        if (scan.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
        {
            var depth = scan.CurrentDepth;
            while (scan.Read() && scan.CurrentDepth > depth)
                Check(ref scan);
        }
        return JsonElement.ParseValue(ref reader);
    }

    private static void Check(ref Utf8JsonReader scan)
    {
        if (scan.TokenType is JsonTokenType.String or JsonTokenType.PropertyName
            && !Utf8.IsValid(scan.HasValueSequence ? scan.ValueSequence.ToArray() : scan.ValueSpan))
            throw new JsonException("A string is not valid UTF-8.");
    }

    public override void Write(Utf8JsonWriter writer, JsonElement value, JsonSerializerOptions options) => value.WriteTo(writer);
}
