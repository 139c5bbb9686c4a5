using System.Text.Json.Nodes;
using TaskRunner.Infrastructure.Http;

namespace TaskRunner.Features.Webhooks;

/// <summary>
/// Header values of actions are write-only (they often carry credentials): every read and every audit diff shows
/// <see cref="Redacted"/> in their place, for everyone. A write that sends the placeholder back keeps the value stored for
/// the same header name and the same URL, so a client can PATCH what it read; a stored value never follows a changed URL.
/// </summary>
public static class ActionHeaders
{
    public const string Redacted = "[redacted]";

    /// <summary>Actions as stored (a JSON array), with every header value of each action and of its follow-ups redacted.</summary>
    public static string RedactActions(string actionsJson) =>
        actionsJson.Contains("\"headers\"", StringComparison.Ordinal) ? RedactActionsNode(JsonNode.Parse(actionsJson))!.ToJsonString() : actionsJson;

    /// <summary>A parsed actions array, redacted in place (also what audit diffs record).</summary>
    public static JsonNode? RedactActionsNode(JsonNode? actions)
    {
        foreach (var target in Targets(actions))
            if (target["headers"] is JsonObject headers)
                foreach (var name in headers.Select(header => header.Key).ToList())
                    headers[name] = Redacted;
        return actions;
    }

    /// <summary>A headers object as stored, every value redacted.</summary>
    public static RawJson RedactHeaders(string headersJson)
    {
        var headers = JsonNode.Parse(headersJson) as JsonObject ?? [];
        foreach (var name in headers.Select(header => header.Key).ToList())
            headers[name] = Redacted;
        return new RawJson(headers.ToJsonString());
    }

    /// <summary>
    /// New actions (a JSON array) with each placeholder replaced by the value the stored actions send under that header name
    /// to the same URL. A placeholder with no such value (a new URL, a new header) is an error keyed by its path.
    /// </summary>
    public static string KeepRedacted(string actionsJson, string storedActionsJson, string path, ValidationErrors errors)
    {
        if (!actionsJson.Contains(Redacted, StringComparison.Ordinal))
            return actionsJson;
        var stored = new Dictionary<(string Url, string Name), HashSet<string>>();
        foreach (var target in Targets(JsonNode.Parse(storedActionsJson)))
            if (target["url"]?.GetValue<string>() is { } url)
                Collect(stored, url, target["headers"] as JsonObject);

        var actions = JsonNode.Parse(actionsJson);
        var index = 0;
        foreach (var action in actions as JsonArray ?? [])
        {
            var at = $"{path}[{index++}]";
            Restore(action as JsonObject, at + ".headers", stored, errors);
            var followUp = 0;
            foreach (var then in action?["then"] as JsonArray ?? [])
                Restore(then as JsonObject, $"{at}.then[{followUp++}].headers", stored, errors);
        }
        return actions!.ToJsonString();
    }

    /// <summary>A schedule's new task template (JSON) with the placeholders of its actions replaced as <see cref="KeepRedacted"/> does.</summary>
    public static string KeepRedactedInTemplate(string templateJson, string storedTemplateJson, string path, ValidationErrors errors)
    {
        if (!templateJson.Contains(Redacted, StringComparison.Ordinal) || JsonNode.Parse(templateJson) is not JsonObject template
            || template["actions"] is not JsonArray actions)
            return templateJson;
        var storedActions = JsonNode.Parse(storedTemplateJson)?["actions"]?.ToJsonString() ?? "[]";
        template["actions"] = JsonNode.Parse(KeepRedacted(actions.ToJsonString(), storedActions, path + ".actions", errors));
        return template.ToJsonString();
    }

    /// <summary>
    /// An action template's new headers (a JSON object) with each placeholder replaced by the stored value of that header,
    /// only while the template keeps its URL.
    /// </summary>
    public static string KeepRedactedHeaders(string headersJson, string url, string storedHeadersJson, string storedUrl, ValidationErrors errors)
    {
        if (!headersJson.Contains(Redacted, StringComparison.Ordinal))
            return headersJson;
        var stored = new Dictionary<(string Url, string Name), HashSet<string>>();
        Collect(stored, storedUrl, JsonNode.Parse(storedHeadersJson) as JsonObject);
        var target = new JsonObject { ["url"] = url, ["headers"] = JsonNode.Parse(headersJson) };
        Restore(target, "headers", stored, errors);
        return target["headers"]!.ToJsonString();
    }

    private static void Collect(Dictionary<(string Url, string Name), HashSet<string>> stored, string url, JsonObject? headers)
    {
        foreach (var (name, value) in headers ?? [])
            if (value?.GetValue<string>() is { } text)
            {
                var key = (url, name.ToLowerInvariant());
                if (!stored.TryGetValue(key, out var values))
                    stored[key] = values = [];
                values.Add(text);
            }
    }

    private static void Restore(JsonObject? target, string headersPath, Dictionary<(string Url, string Name), HashSet<string>> stored, ValidationErrors errors)
    {
        if (target?["headers"] is not JsonObject headers || target["url"]?.GetValue<string>() is not { } url)
            return;
        foreach (var name in headers.Select(header => header.Key).ToList())
        {
            if (headers[name]?.GetValue<string>() != Redacted)
                continue;
            if (stored.TryGetValue((url, name.ToLowerInvariant()), out var values) && values.Count == 1)
                headers[name] = values.Single();
            else
                errors.Add($"{headersPath}.{name}", "is the redacted placeholder, but no stored action sends one value of this header to this URL: send the value");
        }
    }

    /// <summary>Every object of an actions array that may carry headers: the actions and their follow-ups.</summary>
    private static IEnumerable<JsonObject> Targets(JsonNode? actions)
    {
        foreach (var action in (actions as JsonArray ?? []).OfType<JsonObject>())
        {
            yield return action;
            foreach (var followUp in (action["then"] as JsonArray ?? []).OfType<JsonObject>())
                yield return followUp;
        }
    }
}
