using System.Text.Json;
using System.Text.Json.Serialization;

namespace TaskRunner.Infrastructure.Http;

/// <summary>
/// A JSON value read from the database as text (a jsonb column cast to text) and written to the response verbatim: no
/// parse into a DOM and back on the way out. Only ever holds text PostgreSQL produced, so it is well-formed.
/// </summary>
[JsonConverter(typeof(RawJsonConverter))]
public readonly record struct RawJson(string Text)
{
    public static RawJson? From(string? text) => text is null ? null : new RawJson(text);
}

public sealed class RawJsonConverter : JsonConverter<RawJson>
{
    public override RawJson Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        using var document = JsonDocument.ParseValue(ref reader);
        return new RawJson(document.RootElement.GetRawText());
    }

    public override void Write(Utf8JsonWriter writer, RawJson value, JsonSerializerOptions options) =>
        writer.WriteRawValue(value.Text, skipInputValidation: true);
}
