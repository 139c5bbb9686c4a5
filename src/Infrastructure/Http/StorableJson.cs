using System.Runtime.InteropServices;
using System.Text.Json;

namespace TaskRunner.Infrastructure.Http;

/// <summary>
/// The one check every JSON value from a client or a webhook passes before PostgreSQL stores it (jsonb or text): NUL
/// (<c>\u0000</c>) and unpaired UTF-16 surrogates (<c>"\ud800"</c>) are valid JSON, but PostgreSQL refuses both. Both can only
/// arrive escaped (a raw NUL or invalid UTF-8 is already bad JSON), and a <see cref="JsonElement"/> keeps its strings
/// escaped, so the escapes are scanned where they are instead of decoding strings (which throws on a lone surrogate).
/// </summary>
public static class StorableJson
{
    public const string Problem =
        "must not contain NUL (\\u0000) or an unpaired UTF-16 surrogate (such as \\ud800): PostgreSQL cannot store them";

    /// <summary>
    /// Adds a validation error on the field <paramref name="path"/> that names the JSON path of the first string or key in
    /// it that PostgreSQL cannot store (<c>… (at metadata.items[2].name)</c>); returns whether the value is storable.
    /// </summary>
    public static bool Check(ValidationErrors errors, string path, JsonElement element)
    {
        if (FindUnstorable(element, path) is not { } at)
            return true;
        errors.Add(path, Message(at));
        return false;
    }

    /// <summary>The validation message for an unstorable value found at the JSON path <paramref name="at"/>.</summary>
    public static string Message(string at) => $"{Problem} (at {at})";

    /// <summary>The JSON path (under <paramref name="path"/>) of the first string or key PostgreSQL cannot store, or null.</summary>
    public static string? FindUnstorable(JsonElement element, string path)
    {
        var reader = new Utf8JsonReader(JsonMarshal.GetRawUtf8Value(element));
        var frames = new Stack<Frame>();
        var current = path;
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.StartObject or JsonTokenType.StartArray:
                    var inArray = reader.TokenType == JsonTokenType.StartArray;
                    var container = ElementPath(frames, path, current);
                    frames.Push(new Frame(container, inArray));
                    break;
                case JsonTokenType.EndObject or JsonTokenType.EndArray:
                    frames.Pop();
                    break;
                case JsonTokenType.PropertyName:
                    var owner = frames.Peek();
                    current = owner.Path + "." + (reader.ValueIsEscaped ? KeyText(reader.ValueSpan) : reader.GetString());
                    if (reader.ValueIsEscaped && !IsStorable(reader.ValueSpan))
                        return current;
                    break;
                case JsonTokenType.String:
                    if (reader.ValueIsEscaped && !IsStorable(reader.ValueSpan))
                        return ElementPath(frames, path, current);
                    break;
            }
            if (reader.TokenType is not (JsonTokenType.PropertyName or JsonTokenType.StartObject or JsonTokenType.StartArray)
                && frames.TryPeek(out var frame) && frame.InArray)
                frame.Index++;
        }
        return null;
    }

    /// <summary>Whether text decoded from JSON (an error message, a header value) can be stored: no NUL, no lone surrogate.</summary>
    public static bool IsStorable(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\0' || char.IsLowSurrogate(c))
                return false;
            if (char.IsHighSurrogate(c))
            {
                if (i + 1 >= text.Length || !char.IsLowSurrogate(text[i + 1]))
                    return false;
                i++;
            }
        }
        return true;
    }

    private sealed class Frame(string path, bool inArray)
    {
        public string Path { get; } = path;
        public bool InArray { get; } = inArray;
        public int Index { get; set; }
    }

    /// <summary>The path of the value being read: an array's next index, or the property just named (the root at the top).</summary>
    private static string ElementPath(Stack<Frame> frames, string root, string property) =>
        frames.TryPeek(out var frame) ? frame.InArray ? $"{frame.Path}[{frame.Index}]" : property : root;

    /// <summary>A key's escaped text as it was sent, for naming it in a path even when it cannot be decoded.</summary>
    private static string KeyText(ReadOnlySpan<byte> escaped) => System.Text.Encoding.UTF8.GetString(escaped);

    /// <summary>
    /// Scans the escapes of a string's raw bytes as a <see cref="Utf8JsonReader"/> holds them (<c>ValueSpan</c> when
    /// <c>ValueIsEscaped</c>): no <c>\u0000</c>, and every surrogate escape paired high-then-low.
    /// </summary>
    public static bool IsStorable(ReadOnlySpan<byte> escaped)
    {
        for (var i = 0; i < escaped.Length; i++)
        {
            if (escaped[i] != (byte)'\\')
                continue;
            i++;
            if (escaped[i] != (byte)'u')
                continue;
            var unit = Hex(escaped.Slice(i + 1, 4));
            i += 4;
            if (unit == 0 || char.IsLowSurrogate((char)unit))
                return false;
            if (!char.IsHighSurrogate((char)unit))
                continue;
            if (i + 6 >= escaped.Length
                || escaped[i + 1] != (byte)'\\' || escaped[i + 2] != (byte)'u' || !char.IsLowSurrogate((char)Hex(escaped.Slice(i + 3, 4))))
                return false;
            i += 6;
        }
        return true;
    }

    // The reader has already checked that four hex digits follow every \u.
    private static int Hex(ReadOnlySpan<byte> digits)
    {
        var value = 0;
        foreach (var digit in digits)
            value = value * 16 + (digit <= '9' ? digit - '0' : (digit | 0x20) - 'a' + 10);
        return value;
    }
}
