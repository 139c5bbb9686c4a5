using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using TaskRunner.Features.Webhooks;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Tasks;

/// <summary>
/// An action in a request: a webhook fired when the task reaches <see cref="Trigger"/>; or, with <see cref="TemplateId"/>,
/// a reference to an action template of the task's project, which supplies the trigger, URL, method and headers.
/// <see cref="Then"/>: follow-up webhooks sent when this one's delivery ends with an answer matching their condition.
/// </summary>
public sealed record ActionRequest(
    string? Trigger, string? Url, string? Method, Dictionary<string, string>? Headers, Guid? TemplateId = null, FollowUpRequest?[]? Then = null);

/// <summary>Task statuses and the field rules every task write applies (create, bulk create, patch, bulk patch).</summary>
public static partial class TaskRules
{
    public const string Pending = "pending";
    public const string Paused = "paused";
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";
    public const string TimedOut = "timed_out";

    public static bool IsTerminal(string status) => status is Succeeded or Failed or Cancelled or TimedOut;

    /// <summary>A parent ended without success: children that required its success cannot run.</summary>
    public static bool IsFailure(string status) => status is Failed or Cancelled or TimedOut;

    public const string RequireSuccess = "success";
    public const string RequireCompletion = "completion";

    public const int MaxTitleLength = 500;
    public const int MaxDescriptionLength = 20_000;
    public const int MaxMetadataBytes = 16 * 1024;
    public const int MaxTimeoutSeconds = 604_800;
    public const int MaxRetries = 100;
    public const int MaxKeyLength = 200;
    public const int MaxActions = 10;
    public const int MaxHeaders = 20;

    public static readonly string[] Triggers = ["start", "success", "failure", "cancel", "timeout", "end"];
    private static readonly string[] Methods = ["POST", "PUT", "PATCH"];

    /// <summary>Headers the delivery itself sets; an action may not override them.</summary>
    private static readonly string[] ReservedHeaders =
        ["host", "content-length", "content-type", "transfer-encoding", "connection", "webhook-id", "webhook-timestamp", "webhook-signature"];

    [GeneratedRegex("^[a-z][a-z0-9_.:-]{0,99}$")]
    private static partial Regex KindFormat();

    [GeneratedRegex("^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")]
    private static partial Regex HeaderNameFormat();

    public static void Title(ValidationErrors errors, string path, string? title) =>
        errors.RequireLength(path, title?.Trim(), 1, MaxTitleLength);

    public static void Description(ValidationErrors errors, string path, string? description) =>
        OptionalText(errors, path, description, MaxDescriptionLength);

    public static void Kind(ValidationErrors errors, string path, string? kind)
    {
        if (kind is not null && !KindFormat().IsMatch(kind))
            errors.Add(path, "must start with a lower-case letter and use only a-z, 0-9, '_', '.', ':' or '-' (at most 100 characters)");
    }

    public static void Priority(ValidationErrors errors, string path, int? priority)
    {
        if (priority is < 0 or > 100)
            errors.Add(path, "must be between 0 and 100");
    }

    public static void TimeoutSeconds(ValidationErrors errors, string path, int? seconds)
    {
        if (seconds is < 1 or > MaxTimeoutSeconds)
            errors.Add(path, $"must be between 1 and {MaxTimeoutSeconds} seconds");
    }

    public static void MaxRetriesValue(ValidationErrors errors, string path, int? retries)
    {
        if (retries is < 0 or > MaxRetries)
            errors.Add(path, $"must be between 0 and {MaxRetries}");
    }

    /// <summary>RFC 3339 requires an offset; a timestamp without one is ambiguous. Returns the value in UTC.</summary>
    public static DateTime? Timestamp(ValidationErrors errors, string path, DateTime? value)
    {
        if (value is not { } time)
            return null;
        if (time.Kind == DateTimeKind.Unspecified)
        {
            errors.Add(path, "must be an RFC 3339 timestamp with an offset (2026-01-31T12:00:00Z)");
            return null;
        }
        return time.ToUniversalTime();
    }

    /// <summary>concurrency_key and dedupe_key: 1–200 characters, no control characters.</summary>
    public static void Key(ValidationErrors errors, string path, string? key)
    {
        if (key is null)
            return;
        if (key.Length is 0 or > MaxKeyLength)
            errors.Add(path, $"must be between 1 and {MaxKeyLength} characters");
        else if (key.Any(char.IsControl))
            errors.Add(path, "must not contain control characters");
    }

    /// <summary>Optional text: a length bound and no NUL, which PostgreSQL cannot store.</summary>
    public static void OptionalText(ValidationErrors errors, string path, string? text, int maxLength)
    {
        if (text is null)
            return;
        if (text.Length > maxLength)
            errors.Add(path, $"must be at most {maxLength} characters");
        else if (text.Contains('\0', StringComparison.Ordinal))
            errors.Add(path, "must not contain NUL characters");
    }

    /// <summary>Metadata: a JSON object of at most 16 KiB that PostgreSQL can store (<see cref="StorableJson"/>). Returns its text for storage.</summary>
    public static string? Metadata(ValidationErrors errors, string path, JsonElement? metadata)
    {
        if (metadata is not { } element || element.ValueKind == JsonValueKind.Null)
            return null;
        if (element.ValueKind != JsonValueKind.Object)
        {
            errors.Add(path, "must be a JSON object");
            return null;
        }
        var text = element.GetRawText();
        if (Encoding.UTF8.GetByteCount(text) > MaxMetadataBytes)
            errors.Add(path, $"must be at most {MaxMetadataBytes} bytes of JSON");
        else
            StorableJson.Check(errors, path, element);
        return text;
    }

    /// <summary>Actions: up to 10, each a trigger and an absolute http(s) URL without credentials; returns their JSON for storage.</summary>
    public static string Actions(ValidationErrors errors, string path, IReadOnlyList<ActionRequest?>? actions, DestinationPolicy destinations)
    {
        if (actions is null || actions.Count == 0)
            return "[]";
        if (actions.Count > MaxActions)
        {
            errors.Add(path, $"must hold at most {MaxActions} actions");
            return "[]";
        }
        var errorsBefore = errors.Count;
        for (var i = 0; i < actions.Count; i++)
        {
            var at = $"{path}[{i}]";
            if (actions[i] is not { } action)
            {
                errors.Add(at, "must be an object");
                continue;
            }
            FollowUpActions.Validate(errors, at + ".then", action.Then, destinations);
            if (action.TemplateId is not null)
            {
                // The template is looked up when the task is written (its trigger is copied into the action then).
                if (action.Trigger is not null || action.Url is not null || action.Method is not null || action.Headers is not null)
                    errors.Add(at + ".template_id", "must stand alone (follow-ups in then aside): the template defines trigger, url, method and headers");
                continue;
            }
            if (action.Trigger is null || !Triggers.Contains(action.Trigger))
                errors.Add(at + ".trigger", "must be one of " + string.Join(", ", Triggers));
            ActionTarget(errors, at, action.Url, action.Method, action.Headers, destinations);
        }
        // Only valid actions are written: writing a follow-up's condition decodes its strings, which a lone surrogate breaks.
        return errors.Count == errorsBefore ? ActionsJson(actions) : "[]";
    }

    /// <summary>Where an action (or an action template) sends: URL, method and custom headers.</summary>
    public static void ActionTarget(
        ValidationErrors errors, string at, string? url, string? method, Dictionary<string, string>? headers, DestinationPolicy destinations)
    {
        ActionUrl(errors, at, url, destinations);
        ActionMethodAndHeaders(errors, at, method, headers);
    }

    /// <summary>Where an action sends: an acceptable URL for <paramref name="destinations"/>.</summary>
    public static void ActionUrl(ValidationErrors errors, string at, string? url, DestinationPolicy destinations)
    {
        var prefix = at.Length == 0 ? "" : at + ".";
        if (string.IsNullOrWhiteSpace(url))
            errors.Add(prefix + "url", "is required");
        else if (url.Length > 2048)
            errors.Add(prefix + "url", "must be at most 2048 characters");
        else if (url.Contains('\0', StringComparison.Ordinal))
            errors.Add(prefix + "url", "must not contain NUL characters");
        else if (Destinations.CheckUrl(url, destinations) is { } problem)
            errors.Add(prefix + "url", problem);
    }

    /// <summary>How an action sends: its method and custom headers.</summary>
    public static void ActionMethodAndHeaders(ValidationErrors errors, string at, string? method, Dictionary<string, string>? headers)
    {
        var prefix = at.Length == 0 ? "" : at + ".";
        if (method is not null && !Methods.Contains(method))
            errors.Add(prefix + "method", "must be one of " + string.Join(", ", Methods));
        if (headers is null)
            return;
        if (headers.Count > MaxHeaders)
            errors.Add(prefix + "headers", $"must hold at most {MaxHeaders} headers");
        foreach (var (name, value) in headers)
        {
            if (!HeaderNameFormat().IsMatch(name))
                errors.Add($"{prefix}headers.{name}", "is not a valid header name");
            else if (ReservedHeaders.Contains(name.ToLowerInvariant()))
                errors.Add($"{prefix}headers.{name}", "is set by the delivery and cannot be overridden");
            if (value is null || value.Length > 4096 || value.Any(c => char.IsControl(c)))
                errors.Add($"{prefix}headers.{name}", "must be text of at most 4096 characters without control characters");
        }
    }

    /// <summary>Where an action sends, as stored: its URL, its method (POST unless given) and its custom headers, if any.</summary>
    public static void WriteTarget(Utf8JsonWriter writer, string? url, string? method, Dictionary<string, string>? headers)
    {
        writer.WriteString("url", url);
        writer.WriteString("method", method ?? "POST");
        if (headers is not { Count: > 0 })
            return;
        writer.WriteStartObject("headers");
        foreach (var (name, value) in headers)
            writer.WriteString(name, value);
        writer.WriteEndObject();
    }

    private static string ActionsJson(IReadOnlyList<ActionRequest?> actions)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartArray();
            foreach (var action in actions)
            {
                if (action is null)
                    continue;
                writer.WriteStartObject();
                if (action.TemplateId is { } templateId)
                {
                    writer.WriteString("template_id", templateId);
                    FollowUpActions.Write(writer, action.Then);
                    writer.WriteEndObject();
                    continue;
                }
                writer.WriteString("trigger", action.Trigger);
                WriteTarget(writer, action.Url, action.Method, action.Headers);
                FollowUpActions.Write(writer, action.Then);
                writer.WriteEndObject();
            }
            writer.WriteEndArray();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
