using System.Text.Json;
using System.Text.Json.Nodes;
using TaskRunner.Features.Tasks;
using TaskRunner.Features.Tasks.CreateTasks;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Workflows;

/// <summary>
/// From a definition and a run's parameters to the tasks of one bulk create: parameters checked against their schemas
/// (defaults for the rest), for_each tasks fanned out (a child of one depends on every copy), placeholders rendered once,
/// and the result planned by the bulk-create rules (<see cref="TaskPlan"/>) — the same checks a hand-written bulk request
/// passes, reported at the definition's task paths.
/// </summary>
internal static class WorkflowRendering
{
    /// <summary>The run's parameter values: the given ones, checked, and every default; null with errors under <c>params.*</c>.</summary>
    public static Dictionary<string, JsonNode?>? ResolveParameters(
        WorkflowDefinition definition, JsonObject? given, int maxFanOut, Action<string, string> report)
    {
        var values = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);
        var failed = false;
        void Fail(string path, string message)
        {
            failed = true;
            report(path, message);
        }
        foreach (var (name, _) in given ?? [])
            if (definition.Parameter(name) is null)
                Fail("params." + name, "is not a parameter of this workflow");
        foreach (var parameter in definition.Parameters)
        {
            var path = "params." + parameter.Name;
            if (given is not null && given.TryGetPropertyValue(parameter.Name, out var value))
                WorkflowDefinitions.CheckValue(parameter, value, path, Fail);
            else if (parameter.Default is { } fallback)
                value = fallback;
            else
            {
                Fail(path, "is required");
                continue;
            }
            values[parameter.Name] = value;
        }
        foreach (var task in definition.Tasks)
            if (task.ForEach is { } name && values.GetValueOrDefault(name) is JsonArray { Count: var count } && count > maxFanOut)
                Fail("params." + name, $"holds {count} items; for_each ({task.Path}) fans out over at most {maxFanOut}");
        return failed ? null : values;
    }

    /// <summary>The run's tasks, planned by the bulk-create rules; null with errors reported at the definition's paths.</summary>
    public static List<PlannedTask>? Plan(
        WorkflowDefinition definition, RenderValues values, Guid projectId, int maxTasks, DestinationPolicy destinations,
        Action<string, string> report)
    {
        var copies = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var total = 0;
        foreach (var task in definition.Tasks)
        {
            var count = task.ForEach is { } name ? ((JsonArray)values.Parameters[name]!).Count : 1;
            copies[task.Key] = task.ForEach is null ? [task.Key] : [.. Enumerable.Range(0, count).Select(i => $"{task.Key}[{i}]")];
            total += count;
        }
        if (total > maxTasks)
        {
            report("tasks", $"renders to {total} tasks; one run creates at most {maxTasks}");
            return null;
        }

        var requests = new List<CreateTaskRequest>(total);
        var origins = new List<(TaskTemplate Task, int? Item)>(total);
        var failed = false;
        void Fail(string path, string message)
        {
            failed = true;
            report(path, message);
        }
        foreach (var task in definition.Tasks)
        {
            var dependsOn = task.DependsOn
                .SelectMany(parent => copies[parent.Key].Select(reference => (DependencyRequest?)new DependencyRequest(reference, parent.Require)))
                .ToArray();
            var items = task.ForEach is { } name ? (JsonArray)values.Parameters[name]! : null;
            for (var i = 0; i < (items?.Count ?? 1); i++)
            {
                requests.Add(Render(task, copies[task.Key][i], items?[i], dependsOn, values, Fail));
                origins.Add((task, items is null ? null : i));
            }
        }
        if (failed)
            return null;

        var planErrors = new ValidationErrors();
        var plan = TaskPlan.Build(requests, projectId, bulk: true, destinations, planErrors);
        foreach (var (field, message) in planErrors.Entries)
            report(SourcePath(field, origins, out var item), item is null ? message : $"{message} (for_each item {item})");
        return plan;
    }

    /// <summary><c>tasks[17].title</c> of the rendered request as the path of the definition's task that produced it.</summary>
    private static string SourcePath(string field, List<(TaskTemplate Task, int? Item)> origins, out int? item)
    {
        item = null;
        var close = field.IndexOf(']', StringComparison.Ordinal);
        if (!field.StartsWith("tasks[", StringComparison.Ordinal) || close < 0 || !int.TryParse(field.AsSpan(6, close - 6), out var index))
            return field;
        item = origins[index].Item;
        return origins[index].Task.Path + field[(close + 1)..];
    }

    private static CreateTaskRequest Render(
        TaskTemplate task, string reference, JsonNode? item, DependencyRequest?[] dependsOn, RenderValues values, Action<string, string> report)
    {
        var fields = task.Fields;
        string? Text(string field) => fields[field] is { } node ? Placeholders.Render(node.GetValue<string>(), values, item) : null;
        int? Integer(string field)
        {
            if (fields[field] is not { } node)
                return null;
            var rendered = Placeholders.RenderJson(node, values, item);
            if (rendered is JsonValue number && number.GetValueKind() == JsonValueKind.Number && number.TryGetValue<long>(out var whole)
                && whole is >= int.MinValue and <= int.MaxValue)
                return (int)whole;
            report(WorkflowDefinitions.Child(task.Path, field), $"renders to {rendered?.ToJsonString() ?? "null"}, which is not a whole number");
            return null;
        }
        JsonElement? Metadata()
        {
            if (Placeholders.RenderJson(fields["metadata"], values, item) is not { } rendered)
                return null;
            using var document = JsonDocument.Parse(rendered.ToJsonString());
            return document.RootElement.Clone();
        }
        ActionRequest?[]? Actions()
        {
            if (Placeholders.RenderJson(fields["actions"], values, item) is not { } rendered)
                return null;
            try
            {
                return rendered.Deserialize(AppJsonContext.Default.ActionRequestArray);
            }
            catch (JsonException e)
            {
                report(WorkflowDefinitions.Child(task.Path, "actions"), $"renders to an invalid list of actions (at {e.Path}): {e.Message}");
                return null;
            }
        }

        return new CreateTaskRequest(
            Ref: reference,
            ProjectId: null,
            Title: Text("title"),
            Description: Text("description"),
            Kind: Text("kind"),
            Priority: Integer("priority"),
            Metadata: Metadata(),
            TimeoutSeconds: Integer("timeout_seconds"),
            ScheduledAt: null,
            MaxRetries: Integer("max_retries"),
            ConcurrencyKey: Text("concurrency_key"),
            DedupeKey: null,
            AssigneeId: null,
            DependsOn: dependsOn.Length == 0 ? null : dependsOn,
            Actions: Actions());
    }
}
