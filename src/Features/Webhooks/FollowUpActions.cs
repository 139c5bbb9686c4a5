using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using TaskRunner.Features.Tasks;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Webhooks;

/// <summary>
/// A follow-up of an action: another webhook, sent when the action's delivery ends with an answer matching
/// <see cref="When"/>. It targets a URL (with method and headers) or, with <see cref="TemplateId"/>, an action template of the
/// task's project. Follow-ups do not have follow-ups of their own.
/// </summary>
public sealed record FollowUpRequest(FollowUpCondition? When, string? Url, string? Method, Dictionary<string, string>? Headers, Guid? TemplateId = null);

/// <summary>
/// What the delivery's end must look like; every condition given must hold, and at least one is required.
/// <see cref="Status"/>: the last answer's status code, one entry or a list, each a code (<c>409</c>) or a class (<c>"5xx"</c>).
/// <see cref="Outcome"/>: <c>delivered</c> or <c>dead</c>. <see cref="Json"/>: conditions on fields of the JSON answer.
/// An absent JSON value is a default <see cref="JsonElement"/>, left out when the request is written back (a schedule's template).
/// </summary>
public sealed record FollowUpCondition(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] JsonElement Status, string? Outcome, JsonFieldCondition?[]? Json);

/// <summary>
/// A field of the JSON answer, by a dotted path (<c>result.state</c>; a number indexes an array: <c>items.0.id</c>), and
/// exactly one test: equal to a JSON value, not equal (a missing field is not equal), one of several values, or present.
/// </summary>
public sealed record JsonFieldCondition(
    string? Path,
    [property: JsonPropertyName("equals"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] JsonElement EqualTo,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] JsonElement NotEquals,
    JsonElement[]? In,
    bool? Exists);

/// <summary>
/// Conditional follow-up actions: their rules when a task's actions are written, their stored form (inside the action, as
/// <c>then</c>), and the choice, when a delivery ends, of the follow-ups whose condition its last answer matches.
/// </summary>
public static partial class FollowUpActions
{
    public const int MaxPerAction = 5;
    public const int MaxJsonConditions = 10;
    public const int MaxInValues = 50;
    public const int MaxPathLength = 200;
    public const int MaxStatusEntries = 20;

    /// <summary>A follow-up condition reads at most this much of an answer; a longer answer is not JSON to it.</summary>
    public const int MaxAnswerBytes = 64 * 1024;

    public static readonly string[] Outcomes = ["delivered", "dead"];

    [GeneratedRegex("^[1-5]xx$")]
    private static partial Regex StatusClass();

    [GeneratedRegex(@"^[^.\s\x00-\x1f]+(\.[^.\s\x00-\x1f]+)*$")]
    private static partial Regex PathFormat();

    public static void Validate(ValidationErrors errors, string at, IReadOnlyList<FollowUpRequest?>? followUps, DestinationPolicy destinations)
    {
        if (followUps is null)
            return;
        if (followUps.Count > MaxPerAction)
        {
            errors.Add(at, $"must hold at most {MaxPerAction} follow-up actions");
            return;
        }
        for (var i = 0; i < followUps.Count; i++)
        {
            var path = $"{at}[{i}]";
            if (followUps[i] is not { } followUp)
            {
                errors.Add(path, "must be an object");
                continue;
            }
            ValidateCondition(errors, path + ".when", followUp.When);
            if (followUp.TemplateId is not null)
            {
                if (followUp.Url is not null || followUp.Method is not null || followUp.Headers is not null)
                    errors.Add(path + ".template_id", "must stand alone beside when: the template defines url, method and headers");
                continue;
            }
            TaskRules.ActionTarget(errors, path, followUp.Url, followUp.Method, followUp.Headers, destinations);
        }
    }

    private static void ValidateCondition(ValidationErrors errors, string at, FollowUpCondition? when)
    {
        if (when is null)
        {
            errors.Add(at, "is required: a status, an outcome or a json condition on the answer");
            return;
        }
        if (when.Status.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null && when.Outcome is null && when.Json is null or [])
            errors.Add(at, "must hold at least one of status, outcome or json");
        if (when.Status.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null) && StatusEntries(when.Status) is null)
            errors.Add(at + ".status", $"must be a status code (100-599) or class (\"1xx\"-\"5xx\"), or a list of at most {MaxStatusEntries} of them");
        if (when.Outcome is not null && !Outcomes.Contains(when.Outcome))
            errors.Add(at + ".outcome", "must be one of " + string.Join(", ", Outcomes));
        if (when.Json is null)
            return;
        if (when.Json.Length > MaxJsonConditions)
        {
            errors.Add(at + ".json", $"must hold at most {MaxJsonConditions} conditions");
            return;
        }
        for (var i = 0; i < when.Json.Length; i++)
        {
            var path = $"{at}.json[{i}]";
            if (when.Json[i] is not { } condition)
            {
                errors.Add(path, "must be an object");
                continue;
            }
            if (condition.Path is null || condition.Path.Length > MaxPathLength || !PathFormat().IsMatch(condition.Path))
                errors.Add(path + ".path", $"must be a dotted path of at most {MaxPathLength} characters (result.state, items.0.id)");
            var tests = (Given(condition.EqualTo) ? 1 : 0) + (Given(condition.NotEquals) ? 1 : 0) + (condition.In is null ? 0 : 1)
                + (condition.Exists is null ? 0 : 1);
            if (tests != 1)
                errors.Add(path, "must hold exactly one of equals, not_equals, in or exists");
            if (condition.In is { Length: 0 or > MaxInValues })
                errors.Add(path + ".in", $"must hold between 1 and {MaxInValues} values");
            if (Given(condition.EqualTo))
                StorableJson.Check(errors, path + ".equals", condition.EqualTo);
            if (Given(condition.NotEquals))
                StorableJson.Check(errors, path + ".not_equals", condition.NotEquals);
            for (var j = 0; j < (condition.In?.Length ?? 0); j++)
                StorableJson.Check(errors, $"{path}.in[{j}]", condition.In![j]);
        }
    }

    /// <summary>A JSON value was sent (null included); absent is <see cref="JsonValueKind.Undefined"/>.</summary>
    private static bool Given(JsonElement value) => value.ValueKind != JsonValueKind.Undefined;

    /// <summary>The status entries as codes and classes (<c>"5xx"</c>); null when the value is not one or a list of them.</summary>
    private static List<JsonElement>? StatusEntries(JsonElement status)
    {
        var entries = status.ValueKind == JsonValueKind.Array ? status.EnumerateArray().ToList() : [status];
        if (entries.Count == 0 || entries.Count > MaxStatusEntries)
            return null;
        foreach (var entry in entries)
        {
            var valid = entry.ValueKind switch
            {
                JsonValueKind.Number => entry.TryGetInt32(out var code) && code is >= 100 and <= 599,
                // An unpaired surrogate cannot be read as a string; it is no status class either.
                JsonValueKind.String => StorableJson.FindUnstorable(entry, "status") is null && StatusClass().IsMatch(entry.GetString()!),
                _ => false,
            };
            if (!valid)
                return null;
        }
        return entries;
    }

    /// <summary>Writes the follow-ups, validated, as the action's <c>then</c>: the form deliveries are chosen from.</summary>
    public static void Write(Utf8JsonWriter writer, IReadOnlyList<FollowUpRequest?>? followUps)
    {
        if (followUps is not { Count: > 0 })
            return;
        writer.WriteStartArray("then");
        foreach (var followUp in followUps)
        {
            if (followUp?.When is not { } when)
                continue;
            writer.WriteStartObject();
            WriteCondition(writer, when);
            if (followUp.TemplateId is { } templateId)
                writer.WriteString("template_id", templateId);
            else
                TaskRules.WriteTarget(writer, followUp.Url, followUp.Method, followUp.Headers);
            writer.WriteEndObject();
        }
        writer.WriteEndArray();
    }

    private static void WriteCondition(Utf8JsonWriter writer, FollowUpCondition when)
    {
        writer.WriteStartObject("when");
        if (when.Status.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null))
        {
            writer.WriteStartArray("status");
            foreach (var entry in StatusEntries(when.Status) ?? [])
                entry.WriteTo(writer);
            writer.WriteEndArray();
        }
        if (when.Outcome is not null)
            writer.WriteString("outcome", when.Outcome);
        if (when.Json is { Length: > 0 } conditions)
        {
            writer.WriteStartArray("json");
            foreach (var condition in conditions)
                if (condition is not null)
                    WriteFieldTest(writer, condition);
            writer.WriteEndArray();
        }
        writer.WriteEndObject();
    }

    private static void WriteFieldTest(Utf8JsonWriter writer, JsonFieldCondition condition)
    {
        writer.WriteStartObject();
        writer.WriteString("path", condition.Path);
        if (Given(condition.EqualTo))
        {
            writer.WritePropertyName("equals");
            condition.EqualTo.WriteTo(writer);
        }
        if (Given(condition.NotEquals))
        {
            writer.WritePropertyName("not_equals");
            condition.NotEquals.WriteTo(writer);
        }
        if (condition.In is not null)
        {
            writer.WriteStartArray("in");
            foreach (var value in condition.In)
                value.WriteTo(writer);
            writer.WriteEndArray();
        }
        if (condition.Exists is { } exists)
            writer.WriteBoolean("exists", exists);
        writer.WriteEndObject();
    }

    /// <summary>Whether a stored action has follow-ups (so its answer is read far enough to test them).</summary>
    public static bool Any(JsonElement action) =>
        action.TryGetProperty("then", out var then) && then.ValueKind == JsonValueKind.Array && then.GetArrayLength() > 0;

    /// <summary>
    /// The follow-ups of a stored action whose condition the delivery's end matches, as a JSON array of actions for the
    /// outbox, and how many; null when none does. <paramref name="answer"/> is the JSON answer, null when it was not JSON.
    /// </summary>
    public static (string Json, int Count)? Matching(JsonElement action, string outcome, int? statusCode, JsonElement? answer)
    {
        if (!Any(action))
            return null;
        var matched = action.GetProperty("then").EnumerateArray()
            .Where(followUp => followUp.TryGetProperty("when", out var when) && Matches(when, outcome, statusCode, answer))
            .ToList();
        if (matched.Count == 0)
            return null;
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartArray();
            foreach (var followUp in matched)
                followUp.WriteTo(writer);
            writer.WriteEndArray();
        }
        return (Encoding.UTF8.GetString(buffer.WrittenSpan), matched.Count);
    }

    private static bool Matches(JsonElement when, string outcome, int? statusCode, JsonElement? answer)
    {
        if (when.TryGetProperty("status", out var status)
            && !(statusCode is { } code && status.EnumerateArray().Any(entry => StatusMatches(entry, code))))
            return false;
        if (when.TryGetProperty("outcome", out var wanted) && wanted.GetString() != outcome)
            return false;
        if (when.TryGetProperty("json", out var conditions))
            foreach (var condition in conditions.EnumerateArray())
                if (answer is not { } root || !FieldMatches(condition, root))
                    return false;
        return true;
    }

    private static bool StatusMatches(JsonElement entry, int code) => entry.ValueKind == JsonValueKind.Number
        ? entry.GetInt32() == code
        : entry.GetString()![0] - '0' == code / 100;

    private static bool FieldMatches(JsonElement condition, JsonElement root)
    {
        var found = Find(root, condition.GetProperty("path").GetString()!, out var value);
        if (condition.TryGetProperty("equals", out var expected))
            return found && JsonElement.DeepEquals(value, expected);
        if (condition.TryGetProperty("not_equals", out var unexpected))
            return !found || !JsonElement.DeepEquals(value, unexpected);
        if (condition.TryGetProperty("in", out var values))
            return found && values.EnumerateArray().Any(candidate => JsonElement.DeepEquals(value, candidate));
        return found == condition.GetProperty("exists").GetBoolean();
    }

    /// <summary>Follows a dotted path: names into objects, non-negative numbers into arrays.</summary>
    private static bool Find(JsonElement root, string path, out JsonElement value)
    {
        value = root;
        foreach (var segment in path.Split('.'))
        {
            if (value.ValueKind == JsonValueKind.Object && value.TryGetProperty(segment, out var property))
                value = property;
            else if (value.ValueKind == JsonValueKind.Array && int.TryParse(segment, NumberStyles.None, CultureInfo.InvariantCulture, out var index) && index >= 0 && index < value.GetArrayLength())
                value = value[index];
            else
                return false;
        }
        return true;
    }
}
