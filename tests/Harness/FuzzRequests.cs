using System.Globalization;
using System.Text;
using System.Text.Json;
using CsCheck;

namespace TaskRunner.Tests.Harness;

/// <summary>Who sends a fuzzed request: a bearer session or an API key of the admin or the member, or nobody (a forged credential).</summary>
public enum FuzzCaller
{
    AdminSession,
    MemberSession,
    AdminKey,
    MemberKey,
    Anonymous,
}

/// <summary>One generated request, complete enough to print and to send again.</summary>
public sealed record FuzzRequest(
    int Case,
    string Operation,
    FuzzCaller Caller,
    string Method,
    string PathAndQuery,
    IReadOnlyList<KeyValuePair<string, string>> Headers,
    byte[]? Body,
    string? ContentType)
{
    /// <summary>Method, URL, caller, headers and body (escaped, cut at 2 KiB), for a failure message a developer can replay.</summary>
    public string Describe()
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"case {Case} ({Operation}) as {Caller}: {Method} {PathAndQuery}\n");
        foreach (var (name, value) in Headers)
            text.Append(CultureInfo.InvariantCulture, $"  {name}: {Cut(value, 300)}\n");
        if (ContentType is not null)
            text.Append(CultureInfo.InvariantCulture, $"  Content-Type: {ContentType}\n");
        if (Body is not null)
            text.Append(CultureInfo.InvariantCulture, $"  body ({Body.Length} bytes): {Cut(Escape(Body), 2048)}\n");
        return text.ToString();
    }

    /// <summary>The body as text, with each byte that is not printable ASCII written as \xNN.</summary>
    private static string Escape(byte[] body)
    {
        var text = new StringBuilder(Math.Min(body.Length, 4096));
        foreach (var value in body.AsSpan(0, Math.Min(body.Length, 4096)))
            text.Append(value is >= 0x20 and < 0x7f ? ((char)value).ToString() : $"\\x{value:x2}");
        return text.ToString();
    }

    private static string Cut(string text, int length) => text.Length <= length ? text : text[..length] + $"… ({text.Length} chars)";
}

/// <summary>Real rows the generator may name, so path and body ids reach handlers past "not found".</summary>
public sealed class FuzzIds
{
    private readonly Dictionary<string, List<Guid>> byKind = [];

    public void Add(string kind, Guid id)
    {
        lock (byKind)
        {
            if (!byKind.TryGetValue(kind, out var ids))
                byKind[kind] = ids = [];
            ids.Add(id);
        }
    }

    /// <summary>One id of the kind (or of any kind when there is none), chosen by the case's generator.</summary>
    public Guid Pick(string kind, PCG pcg)
    {
        lock (byKind)
        {
            var ids = byKind.TryGetValue(kind, out var known) && known.Count > 0 ? known : byKind.Values.SelectMany(list => list).ToList();
            return ids.Count == 0 ? Guid.CreateVersion7() : ids[(int)pcg.Next((uint)ids.Count)];
        }
    }
}

/// <summary>
/// Builds hostile requests from the OpenAPI document with CsCheck generators: every case is generated from its own PCG
/// (stream = case number, seed = the run's seed), so a case prints and replays exactly whatever else ran beside it.
/// Values are mostly plausible (so handlers run past validation) with hostile ones mixed in: wrong types, extreme numbers,
/// deep nesting, lone surrogates, NUL, invalid UTF-8, huge strings and arrays, random bytes.
/// </summary>
public sealed class FuzzRequests(OpenApiDocument document, FuzzIds ids)
{
    /// <summary>Stands for invalid UTF-8 in generated text; replaced by raw bytes after encoding.</summary>
    private const char InvalidUtf8Marker = '\uE000';
    private static readonly byte[] MarkerBytes = Encoding.UTF8.GetBytes(InvalidUtf8Marker.ToString());
    private static readonly byte[][] InvalidUtf8 = [[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xc0, 0xaf], [0x80]];

    private static readonly string[] HostileStrings =
    [
        "", " ", "\\ud800", "\\udfff", "a\\ud800b", "\\udc00\\ud800", "\\u0000", "a\\u0000b", "\\u0001\\u001f", "null", "true", "-1", "0", "NaN",
        "1e400", "99999999999999999999999999", "' OR 1=1 --", "\\\"; DROP TABLE tasks; --", "%00", "../../etc/passwd", "${jndi:ldap://x}",
        "\u202e\u0645\u0631\u062d\u0628\u0627", "\ud83d\ude00\ud83d\udca9", "2026-13-45T25:61:61Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z",
        "-infinity", "infinity", "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff", "trk_x_y", "*/0 * * * *",
        "@every 0s", "Mars/Olympus", "http://169.254.169.254/latest/meta-data", "file:///etc/passwd", "http://[::1]:0/", "javascript:alert(1)",
        "a,b,,c", "-created_at,,", "id,id,id", InvalidUtf8Marker.ToString(), "x" + InvalidUtf8Marker + "y",
    ];

    private static readonly string[] HostileNumbers =
    [
        "0", "-1", "1", "2147483647", "2147483648", "-2147483648", "-2147483649", "9223372036854775807", "9223372036854775808",
        "-9223372036854775809", "18446744073709551616", "1e308", "-1e308", "1e400", "1e-400", "-0", "0.5", "1.0", "1E2",
        "123456789012345678901234567890123456789012345678901234567890",
    ];

    private static readonly string[] PlausibleWords =
    [
        "pending", "paused", "running", "succeeded", "failed", "cancelled", "timed_out", "owner", "editor", "viewer", "admin", "member",
        "start", "success", "failure", "cancel", "timeout", "end", "skip", "allow", "dead", "delivered", "created_at", "-created_at", "name",
        "priority", "title", "id,title,status", "POST", "PUT", "report", "etl.extract", "UTC", "Europe/Paris", "*/5 * * * *", "0 2 * * *",
    ];

    private static readonly string[] FuzzedHeaders = ["If-Match", "If-None-Match", "Idempotency-Key", "X-Request-ID", "traceparent", "Accept", "Range"];

    /// <summary>The service's operations; the in-process host's test-only endpoints (<c>/_test/…</c>) are not the service.</summary>
    private readonly List<OpenApiOperation> operations =
        document.Operations.Where(operation => !operation.PathTemplate.StartsWith("/_test/", StringComparison.Ordinal)).ToList();

    public int OperationCount => operations.Count;

    public FuzzRequest Generate(ulong seed, int number)
    {
        var pcg = new PCG((uint)number, seed);
        var operation = operations[(int)pcg.Next((uint)operations.Count)];
        var caller = Chance(pcg, 10) ? FuzzCaller.Anonymous : (FuzzCaller)pcg.Next(4);
        var headers = new List<KeyValuePair<string, string>>();
        foreach (var header in FuzzedHeaders)
        {
            if (Chance(pcg, 8))
                headers.Add(new(header, HeaderValue(pcg)));
        }
        if (caller == FuzzCaller.Anonymous && Chance(pcg, 70))
        {
            headers.Add(Chance(pcg, 50)
                ? new("X-API-Key", $"trk_{Word(pcg, 12)}_{Word(pcg, 43)}")
                : new("Authorization", "Bearer " + HeaderValue(pcg)));
        }

        var path = new StringBuilder();
        foreach (var segment in operation.PathTemplate.Split('/'))
        {
            if (path.Length > 0 || segment.Length > 0)
                path.Append('/');
            path.Append(segment.StartsWith('{') ? PathValue(pcg, IdKind(operation.PathTemplate, segment)) : segment);
        }
        var query = new List<string>();
        foreach (var parameter in operation.Parameters.Where(parameter => parameter.In == "query"))
        {
            if (Chance(pcg, 45))
                query.Add(parameter.Name + "=" + QueryValue(pcg, parameter));
        }
        if (Chance(pcg, 5))
            query.Add(Word(pcg, 8) + "=" + Word(pcg, 4));
        if (query.Count > 0 && Chance(pcg, 5))
            query.Add(query[0]);
        var pathAndQuery = query.Count == 0 ? path.ToString() : path + "?" + string.Join('&', query);

        byte[]? body = null;
        string? contentType = null;
        if (operation.BodySchema is { } schema || Chance(pcg, 5))
        {
            contentType = Chance(pcg, 95) ? "application/json" : Pick(pcg, ["text/plain", "application/xml", "multipart/form-data; boundary=x", "application/json; charset=latin1"]);
            body = Body(pcg, operation.BodySchema);
        }
        return new FuzzRequest(number, operation.Key, caller, operation.Method, pathAndQuery, headers, body, contentType);
    }

    /// <summary>Which pool a path parameter draws from: the collection before it (<c>/tasks/{id}</c>: tasks), <c>{userId}</c>: users.</summary>
    private static string IdKind(string template, string segment)
    {
        if (segment == "{userId}")
            return "users";
        var parts = template.Split('/');
        var index = Array.IndexOf(parts, segment);
        return index > 0 ? parts[index - 1] : "any";
    }

    private string PathValue(PCG pcg, string kind) => pcg.Next(100) switch
    {
        < 60 => ids.Pick(kind, pcg).ToString(),
        < 75 => Gen.Guid.Generate(pcg, null, out _).ToString(),
        < 85 => Pick(pcg, ["%00", "..", "%2F", "%ED%A0%80", "%FF", "-1", "00000000-0000-0000-0000-00000000000g", "%20"]),
        _ => UrlValue(String(pcg)),
    };

    private string QueryValue(PCG pcg, OpenApiParameter parameter)
    {
        if (Chance(pcg, 15))
            return Pick(pcg, ["%00", "%ED%A0%80", "%FF%FE", "%C3%28", "a%00b", "%25", "%", "%zz"]);
        if (Chance(pcg, 40))
            return UrlValue(String(pcg));
        var schema = document.Resolve(parameter.Schema);
        var value = (OpenApiDocument.TypeOf(schema), OpenApiDocument.FormatOf(schema), parameter.Name) switch
        {
            ("boolean", _, _) => Pick(pcg, ["true", "false", "TRUE", "1", "yes"]),
            ("integer", _, _) or (_, _, "limit" or "priority_min") => Pick(pcg, HostileNumbers),
            (_, "uuid", _) => ids.Pick(parameter.Name.Replace("_id", "s", StringComparison.Ordinal), pcg).ToString(),
            (_, "date-time", _) or (_, _, "from" or "to" or "created_after" or "created_before" or "updated_after" or "scheduled_after" or "scheduled_before") =>
                Pick(pcg, ["2026-01-01", "2026-01-01T00:00:00Z", "0001-01-01", "9999-12-31T23:59:59.9999999Z", "2026-02-30", "yesterday", "1e10"]),
            (_, _, "user_id" or "project_id" or "batch_id" or "assignee_id" or "task_id" or "resource_id") =>
                ids.Pick(parameter.Name.Replace("_id", "s", StringComparison.Ordinal).Replace("assignees", "users", StringComparison.Ordinal), pcg).ToString(),
            (_, _, "cursor") => Pick(pcg, ["abc", "eyJ9", new string('A', 5000), "..", ""]),
            _ => Pick(pcg, PlausibleWords),
        };
        return Percent(value);
    }

    private static string HeaderValue(PCG pcg) => pcg.Next(6) switch
    {
        0 => "\"" + Word(pcg, 10) + "\"",
        1 => "W/\"" + Word(pcg, 5) + "\", *",
        2 => new string('x', (int)pcg.Next(10_000)),
        3 => Pick(pcg, ["*", "", "bytes=0-", "bytes=-1", "bytes=99999999999999999999-", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "ff-zz"]),
        _ => new string(Gen.Char[' ', '~'].Array[0, 80].Generate(pcg, null, out _)),
    };

    /// <summary>A body for the schema (or for none), in one of the hostile shapes.</summary>
    private byte[] Body(PCG pcg, JsonElement? schema)
    {
        var json = new StringBuilder();
        switch (pcg.Next(100))
        {
            case < 12:
                Value(json, pcg, schema, depth: 0, mutate: 0);
                break;
            case < 55:
                Value(json, pcg, schema, depth: 0, mutate: 15);
                break;
            case < 63:
                HostileValue(json, pcg, depth: 0);
                break;
            case < 70:
                var depth = (int)pcg.Next(2_000) + 60;
                var array = Chance(pcg, 50);
                for (var level = 0; level < depth; level++)
                    json.Append(array ? "[" : "{\"a\":");
                json.Append('1');
                for (var level = 0; level < depth; level++)
                    json.Append(array ? ']' : '}');
                break;
            case < 77:
                return Gen.Byte.Array[0, 2_000].Generate(pcg, null, out _);
            case < 83:
                Value(json, pcg, schema, depth: 0, mutate: 0);
                json.Length = (int)pcg.Next((uint)Math.Max(1, json.Length));
                break;
            case < 88:
                Huge(json, pcg, schema);
                break;
            case < 92:
                break;
            default:
                Value(json, pcg, schema, depth: 0, mutate: 5);
                if (json.Length > 1 && json[0] == '{')
                    json.Insert(1, Chance(pcg, 50) ? $"\"{Word(pcg, 6)}\":1," : "\"title\":\"a\",\"title\":\"b\",");
                break;
        }
        return Encode(json.ToString());
    }

    /// <summary>A value for the schema: plausible, or (with <paramref name="mutate"/> percent chance at each node) hostile.</summary>
    private void Value(StringBuilder json, PCG pcg, JsonElement? declared, int depth, int mutate, string? name = null)
    {
        if ((mutate > 0 && Chance(pcg, mutate)) || depth > 8)
        {
            HostileValue(json, pcg, depth);
            return;
        }
        var schema = declared is { } known ? document.Resolve(known) : default;
        var type = OpenApiDocument.TypeOf(schema);
        if (type is null && schema.ValueKind == JsonValueKind.Object && schema.TryGetProperty("properties", out _))
            type = "object";
        switch (type)
        {
            case "object":
                json.Append('{');
                var first = true;
                if (schema.TryGetProperty("properties", out var properties))
                {
                    foreach (var property in properties.EnumerateObject())
                    {
                        if (Chance(pcg, 30))
                            continue;
                        if (!first)
                            json.Append(',');
                        first = false;
                        json.Append('"').Append(property.Name).Append("\":");
                        Value(json, pcg, property.Value, depth + 1, mutate, property.Name);
                    }
                }
                else if (schema.TryGetProperty("additionalProperties", out var additional))
                {
                    for (var count = pcg.Next(3); count > 0; count--)
                    {
                        if (!first)
                            json.Append(',');
                        first = false;
                        json.Append('"').Append(Word(pcg, 6)).Append("\":");
                        Value(json, pcg, additional, depth + 1, mutate);
                    }
                }
                json.Append('}');
                break;
            case "array":
                json.Append('[');
                var items = schema.TryGetProperty("items", out var itemSchema) ? itemSchema : (JsonElement?)null;
                for (var count = pcg.Next(4); count > 0; count--)
                {
                    Value(json, pcg, items, depth + 1, mutate, name);
                    if (count > 1)
                        json.Append(',');
                }
                json.Append(']');
                break;
            case "integer":
                json.Append(name switch
                {
                    "priority" => pcg.Next(101),
                    "lease_token" => pcg.Next(5),
                    "limit" or "max_running" or "max_retries" => pcg.Next(10) + 1,
                    "wait_seconds" => pcg.Next(2),
                    _ => pcg.Next(120) + 1,
                });
                break;
            case "number":
                json.Append(Gen.Double[-1e6, 1e6].Generate(pcg, null, out _).ToString("R", CultureInfo.InvariantCulture));
                break;
            case "boolean":
                json.Append(Chance(pcg, 50) ? "true" : "false");
                break;
            case "string":
                json.Append('"').Append(PlausibleString(pcg, name, OpenApiDocument.FormatOf(schema))).Append('"');
                break;
            default:
                // Free JSON (metadata, output): any tree.
                FreeJson(json, pcg, depth);
                break;
        }
    }

    private string PlausibleString(PCG pcg, string? name, string? format)
    {
        if (format == "uuid")
        {
            var kind = name switch
            {
                "template_id" => "action-templates",
                "user_id" or "assignee_id" => "users",
                "project_id" => "projects",
                _ => "tasks",
            };
            return ids.Pick(kind, pcg).ToString();
        }
        if (format == "date-time")
            return DateTime.UtcNow.AddSeconds((int)pcg.Next(200_000) - 100_000).ToString("O", CultureInfo.InvariantCulture);
        return name switch
        {
            "email" => $"fuzz-{Word(pcg, 8)}@example.test",
            "password" => Word(pcg, 16),
            "url" => Pick(pcg, ["https://hooks.example.test/a", "http://127.0.0.1:9/x", "https://user:pass@example.test/", "ftp://example.test/"]),
            "trigger" => Pick(pcg, ["start", "success", "failure", "cancel", "timeout", "end"]),
            "status" => Pick(pcg, ["succeeded", "failed", "running"]),
            "role" => Pick(pcg, ["admin", "member", "viewer", "owner", "editor"]),
            "method" => Pick(pcg, ["POST", "PUT", "PATCH", "GET"]),
            "require" => Pick(pcg, ["success", "completion"]),
            "cron" => Pick(pcg, ["*/5 * * * *", "0 2 * * *", "* * * * * *"]),
            "timezone" => Pick(pcg, ["UTC", "Europe/Paris"]),
            "overlap_policy" => Pick(pcg, ["skip", "allow"]),
            "kind" => Pick(pcg, ["report", "etl.extract"]),
            "refresh_token" or "ref" => Word(pcg, 10),
            _ => Word(pcg, (int)pcg.Next(20) + 1),
        };
    }

    /// <summary>A value of any JSON type, hostile in content: extreme numbers, odd strings, nesting.</summary>
    private static void HostileValue(StringBuilder json, PCG pcg, int depth)
    {
        switch (pcg.Next(8))
        {
            case 0:
                json.Append(Pick(pcg, HostileNumbers));
                break;
            case 1:
                json.Append(Pick(pcg, ["null", "true", "false", "{}", "[]", "[null]", "{\"\":null}"]));
                break;
            case 2:
                json.Append('"').Append(String(pcg)).Append('"');
                break;
            case 3:
                json.Append('"').Append('x', (int)pcg.Next(70_000)).Append('"');
                break;
            case 4:
                json.Append('[');
                var count = (int)pcg.Next(3_000);
                for (var item = 0; item < count; item++)
                    json.Append(item == 0 ? "\"" : ",\"").Append(Guid.Empty).Append('"');
                json.Append(']');
                break;
            default:
                FreeJson(json, pcg, depth);
                break;
        }
    }

    private static void FreeJson(StringBuilder json, PCG pcg, int depth)
    {
        switch (depth > 6 ? pcg.Next(4) : pcg.Next(6))
        {
            case 0:
                json.Append(Pick(pcg, HostileNumbers));
                break;
            case 1:
                json.Append(Pick(pcg, ["null", "true", "false"]));
                break;
            case 2 or 3:
                json.Append('"').Append(String(pcg)).Append('"');
                break;
            case 4:
                json.Append('[');
                for (var count = pcg.Next(4); count > 0; count--)
                {
                    FreeJson(json, pcg, depth + 1);
                    if (count > 1)
                        json.Append(',');
                }
                json.Append(']');
                break;
            default:
                json.Append('{');
                for (var count = pcg.Next(4); count > 0; count--)
                {
                    json.Append('"').Append(String(pcg)).Append("\":");
                    FreeJson(json, pcg, depth + 1);
                    if (count > 1)
                        json.Append(',');
                }
                json.Append('}');
                break;
        }
    }

    /// <summary>A body past the size limits or near them: a huge string field, a huge array, many properties.</summary>
    private void Huge(StringBuilder json, PCG pcg, JsonElement? schema)
    {
        var size = (int)pcg.Next(1_200_000) + 100_000;
        switch (pcg.Next(3))
        {
            case 0:
                var names = schema is { } known && document.Resolve(known).TryGetProperty("properties", out var properties)
                    ? properties.EnumerateObject().Select(property => property.Name).ToArray()
                    : [];
                var field = names.Length == 0 ? "title" : Pick(pcg, names);
                json.Append("{\"").Append(field).Append("\":\"").Append('y', size).Append("\"}");
                break;
            case 1:
                json.Append("{\"ids\":[");
                for (var item = 0; item < size / 40; item++)
                    json.Append(item == 0 ? "\"" : ",\"").Append(ids.Pick("tasks", pcg)).Append('"');
                json.Append("]}");
                break;
            default:
                json.Append("{\"metadata\":{");
                for (var item = 0; item < size / 12; item++)
                    json.Append(item == 0 ? "\"k" : ",\"k").Append(item).Append("\":1");
                json.Append("}}");
                break;
        }
    }

    /// <summary>JSON string content (already escaped): a CsCheck string, or one of the hostile ones.</summary>
    private static string String(PCG pcg) => Chance(pcg, 50)
        ? Pick(pcg, HostileStrings)
        : JsonEncodedText.Encode(Gen.String[0, 40].Generate(pcg, null, out _)).ToString();

    /// <summary>
    /// A value for a URL, from JSON string content: JSON escapes decoded, then every byte but the unreserved ones
    /// percent-encoded (a lone surrogate as the bytes UTF-8 would give it, the marker as an invalid byte).
    /// </summary>
    private static string UrlValue(string jsonContent)
    {
        var text = new StringBuilder();
        for (var index = 0; index < jsonContent.Length; index++)
        {
            if (jsonContent[index] == '\\' && index + 5 < jsonContent.Length && jsonContent[index + 1] == 'u'
                && int.TryParse(jsonContent.AsSpan(index + 2, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var code))
            {
                text.Append(code is >= 0xd800 and <= 0xdfff ? $"%ED%{0xa0 + ((code >> 6) & 0x1f):X2}%{0x80 + (code & 0x3f):X2}" : Percent(((char)code).ToString()));
                index += 5;
            }
            else if (jsonContent[index] == InvalidUtf8Marker)
            {
                text.Append("%FF");
            }
            else if (jsonContent[index] == '\\' && index + 1 < jsonContent.Length)
            {
                text.Append(Percent(jsonContent[++index].ToString()));
            }
            else
            {
                var length = char.IsHighSurrogate(jsonContent[index]) && index + 1 < jsonContent.Length ? 2 : 1;
                text.Append(Percent(jsonContent.Substring(index, length)));
                index += length - 1;
            }
        }
        return text.ToString();
    }

    private static string Percent(string text)
    {
        var encoded = new StringBuilder();
        foreach (var value in Encoding.UTF8.GetBytes(text))
            encoded.Append(char.IsAsciiLetterOrDigit((char)value) || value is (byte)'-' or (byte)'_' or (byte)'.' or (byte)'~' ? ((char)value).ToString() : $"%{value:X2}");
        return encoded.ToString();
    }

    private static byte[] Encode(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        if (text.IndexOf(InvalidUtf8Marker, StringComparison.Ordinal) < 0)
            return bytes;
        var output = new List<byte>(bytes.Length);
        var which = 0;
        for (var index = 0; index < bytes.Length; index++)
        {
            if (index + 2 < bytes.Length && bytes.AsSpan(index, 3).SequenceEqual(MarkerBytes))
            {
                output.AddRange(InvalidUtf8[which++ % InvalidUtf8.Length]);
                index += 2;
            }
            else
            {
                output.Add(bytes[index]);
            }
        }
        return [.. output];
    }

    private static bool Chance(PCG pcg, int percent) => pcg.Next(100) < percent;

    private static string Pick(PCG pcg, string[] values) => values[(int)pcg.Next((uint)values.Length)];

    private static string Word(PCG pcg, int length) => new(Gen.Char["abcdefghijklmnopqrstuvwxyz0123456789"].Array[length].Generate(pcg, null, out _));
}
