using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using TaskRunner.Features.Tasks.CreateTasks;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Workflows;

/// <summary>
/// A declared parameter: a JSON Schema subset. <see cref="Items"/> describes the elements of an <c>array</c>; a parameter
/// has a <see cref="Default"/> or is <see cref="Required"/>, so every placeholder has a value at run time.
/// </summary>
internal sealed record ParameterSpec(
    string Name,
    string Type,
    bool Required,
    JsonNode? Default,
    JsonArray? Enum,
    double? Minimum,
    double? Maximum,
    int? MinLength,
    int? MaxLength,
    Regex? Pattern,
    int? MinItems,
    int? MaxItems,
    ParameterSpec? Items);

/// <summary>A parent of a task template, by key.</summary>
internal sealed record TemplateDependency(string Key, string Require);

/// <summary>
/// A task of a definition, before rendering: its templated fields as written (strings may hold placeholders), its parents
/// by key, and the array parameter it fans out over.
/// </summary>
internal sealed record TaskTemplate(int Index, string Key, string? ForEach, JsonObject Fields, IReadOnlyList<TemplateDependency> DependsOn)
{
    public string Path => $"tasks[{Index}]";
}

/// <summary>A definition that passed every rule that needs no parameter values.</summary>
internal sealed record WorkflowDefinition(string Name, string? Description, IReadOnlyList<ParameterSpec> Parameters, IReadOnlyList<TaskTemplate> Tasks)
{
    public ParameterSpec? Parameter(string name) => Parameters.FirstOrDefault(parameter => parameter.Name == name);
}

/// <summary>Errors of a definition, each keyed by its path and, for YAML, told where in the source it is.</summary>
internal sealed class DefinitionErrors(ValidationErrors errors, DefinitionDocument? document)
{
    public ValidationErrors Errors { get; } = errors;

    public bool IsEmpty => Errors.IsEmpty;

    public void Add(string path, string message) => Errors.Add(path, message + (document?.Where(path) ?? ""));
}

/// <summary>
/// The shape of a workflow definition and its rules: fields and their types, keys, parents, placeholders. The document is
/// read from YAML or JSON into one tree (<see cref="DefinitionReader"/>) and checked here, so both forms follow the same
/// rules and every error names its path.
/// </summary>
internal static partial class WorkflowDefinitions
{
    public const int MaxNameLength = 200;
    public const int MaxDescriptionLength = 10_000;
    public const int MaxParameters = 100;
    public const int MaxPatternLength = 500;
    public const string RequireSuccess = "success";
    public const string RequireCompletion = "completion";

    private static readonly string[] TopFields = ["name", "description", "parameters", "tasks"];
    private static readonly string[] ParameterFields =
        ["type", "description", "required", "default", "enum", "minimum", "maximum", "min_length", "max_length", "pattern", "items", "min_items", "max_items"];
    private static readonly string[] ItemFields = ["type", "enum", "minimum", "maximum", "min_length", "max_length", "pattern"];
    private static readonly string[] ParameterTypes = ["string", "integer", "number", "boolean", "array"];
    private static readonly string[] ItemTypes = ["string", "integer", "number", "boolean"];

    /// <summary>The task fields that may hold placeholders in their text.</summary>
    public static readonly string[] TextFields = ["title", "description", "kind", "concurrency_key"];

    /// <summary>The task fields that are whole numbers, written as a number or as one placeholder of an integer.</summary>
    public static readonly string[] IntegerFields = ["priority", "timeout_seconds", "max_retries"];

    /// <summary>The task fields that are JSON whose strings may hold placeholders.</summary>
    public static readonly string[] JsonFields = ["metadata", "actions"];

    private static readonly string[] TaskFields = ["key", "depends_on", "for_each", .. TextFields, .. IntegerFields, .. JsonFields];

    [GeneratedRegex("^[a-z_][a-z0-9_]{0,63}$", RegexOptions.CultureInvariant)]
    private static partial Regex ParameterName();

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$", RegexOptions.CultureInvariant)]
    private static partial Regex TaskKey();

    /// <summary>The definition in <paramref name="root"/>, or null with <paramref name="errors"/> filled.</summary>
    public static WorkflowDefinition? Read(JsonNode root, int maxTasks, DefinitionErrors errors)
    {
        if (root is not JsonObject top)
        {
            errors.Add("body", "must be a mapping with name, description, parameters and tasks");
            return null;
        }
        UnknownFields(top, "", TopFields, errors);
        var name = Text(top, "name", "name", required: true, MaxNameLength, errors);
        var description = Text(top, "description", "description", required: false, MaxDescriptionLength, errors);
        var parameters = Parameters(top["parameters"], errors);
        var tasks = Tasks(top["tasks"], maxTasks, parameters, errors);
        return errors.IsEmpty ? new WorkflowDefinition(name!, description, parameters, tasks) : null;
    }

    private static void UnknownFields(JsonObject node, string path, string[] known, DefinitionErrors errors)
    {
        foreach (var (field, _) in node)
            if (!known.Contains(field, StringComparer.Ordinal))
                errors.Add(Child(path, field), $"is not a known field (known: {string.Join(", ", known)})");
    }

    public static string Child(string path, string field) => path.Length == 0 ? field : path + "." + field;

    private static string? Text(JsonObject node, string field, string path, bool required, int maxLength, DefinitionErrors errors)
    {
        var value = node[field];
        if (value is null)
        {
            if (required)
                errors.Add(path, "is required");
            return null;
        }
        if (value.GetValueKind() != JsonValueKind.String)
        {
            errors.Add(path, "must be text");
            return null;
        }
        var text = value.GetValue<string>();
        if (text.Trim().Length == 0 && required)
            errors.Add(path, "is required");
        else if (text.Length > maxLength)
            errors.Add(path, $"must be at most {maxLength} characters");
        return text;
    }

    private static List<ParameterSpec> Parameters(JsonNode? node, DefinitionErrors errors)
    {
        var specs = new List<ParameterSpec>();
        if (node is null)
            return specs;
        if (node is not JsonObject parameters)
        {
            errors.Add("parameters", "must be a mapping of parameter names to their schemas");
            return specs;
        }
        if (parameters.Count > MaxParameters)
            errors.Add("parameters", $"must declare at most {MaxParameters} parameters");
        foreach (var (name, schema) in parameters)
        {
            var path = "parameters." + name;
            if (!ParameterName().IsMatch(name))
                errors.Add(path, "must be named with lowercase letters, digits and underscores (at most 64, not starting with a digit)");
            if (Parameter(name, schema, path, item: false, errors) is { } spec)
                specs.Add(spec);
        }
        return specs;
    }

    private static ParameterSpec? Parameter(string name, JsonNode? node, string path, bool item, DefinitionErrors errors)
    {
        if (node is not JsonObject schema)
        {
            errors.Add(path, "must be a mapping with at least a type");
            return null;
        }
        var before = errors.Errors.Count;
        UnknownFields(schema, path, item ? ItemFields : ParameterFields, errors);
        var type = Text(schema, "type", Child(path, "type"), required: true, 20, errors);
        var types = item ? ItemTypes : ParameterTypes;
        if (type is not null && !types.Contains(type, StringComparer.Ordinal))
        {
            errors.Add(Child(path, "type"), $"must be one of {string.Join(", ", types)}");
            type = null;
        }
        var required = Flag(schema, "required", Child(path, "required"), errors);
        var minimum = Number(schema, "minimum", path, errors);
        var maximum = Number(schema, "maximum", path, errors);
        var minLength = Count(schema, "min_length", path, errors);
        var maxLength = Count(schema, "max_length", path, errors);
        var minItems = Count(schema, "min_items", path, errors);
        var maxItems = Count(schema, "max_items", path, errors);
        Regex? pattern = null;
        if (Text(schema, "pattern", Child(path, "pattern"), required: false, MaxPatternLength, errors) is { } source)
        {
            try
            {
                pattern = new Regex(source, RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100));
            }
            catch (ArgumentException)
            {
                errors.Add(Child(path, "pattern"), "is not a valid regular expression");
            }
        }
        JsonArray? enumeration = null;
        if (schema["enum"] is { } enumNode)
        {
            if (enumNode is JsonArray { Count: > 0 } values)
                enumeration = values;
            else
                errors.Add(Child(path, "enum"), "must list at least one value");
        }
        ParameterSpec? items = null;
        if (type == "array")
        {
            if (schema["items"] is { } itemsNode)
                items = Parameter(name, itemsNode, Child(path, "items"), item: true, errors);
        }
        else if (schema["items"] is not null || minItems is not null || maxItems is not null)
            errors.Add(path, "items, min_items and max_items describe arrays only");
        if (minimum > maximum)
            errors.Add(Child(path, "minimum"), "must not exceed maximum");
        if (minLength > maxLength)
            errors.Add(Child(path, "min_length"), "must not exceed max_length");
        if (minItems > maxItems)
            errors.Add(Child(path, "min_items"), "must not exceed max_items");
        if (type is null || errors.Errors.Count > before)
            return null;

        var spec = new ParameterSpec(name, type, required, schema["default"]?.DeepClone(), enumeration, minimum, maximum, minLength, maxLength,
            pattern, minItems, maxItems, items);
        if (item)
            return spec;
        if (spec.Default is null && !required)
            errors.Add(path, "needs a default or required: true, so every run has a value for it");
        if (spec.Default is not null)
            CheckValue(spec, spec.Default, Child(path, "default"), errors.Add);
        if (enumeration is not null)
            for (var i = 0; i < enumeration.Count; i++)
                CheckValue(spec with { Enum = null }, enumeration[i], $"{Child(path, "enum")}[{i}]", errors.Add);
        return spec;
    }

    private static bool Flag(JsonObject node, string field, string path, DefinitionErrors errors)
    {
        if (node[field] is not { } value)
            return false;
        if (value.GetValueKind() is JsonValueKind.True or JsonValueKind.False)
            return value.GetValue<bool>();
        errors.Add(path, "must be true or false");
        return false;
    }

    private static double? Number(JsonObject node, string field, string path, DefinitionErrors errors)
    {
        if (node[field] is not { } value)
            return null;
        if (value.GetValueKind() == JsonValueKind.Number)
            return AsDouble(value);
        errors.Add(Child(path, field), "must be a number");
        return null;
    }

    private static int? Count(JsonObject node, string field, string path, DefinitionErrors errors)
    {
        if (node[field] is not { } value)
            return null;
        if (value.GetValueKind() == JsonValueKind.Number && value.AsValue().TryGetValue<long>(out var count) && count is >= 0 and <= int.MaxValue)
            return (int)count;
        errors.Add(Child(path, field), "must be a whole number, 0 or more");
        return null;
    }

    /// <summary>Checks one value against its parameter's schema, reporting through <paramref name="report"/>.</summary>
    public static void CheckValue(ParameterSpec spec, JsonNode? value, string path, Action<string, string> report)
    {
        var kind = value?.GetValueKind() ?? JsonValueKind.Null;
        switch (spec.Type)
        {
            case "string" when kind != JsonValueKind.String:
            case "boolean" when kind is not (JsonValueKind.True or JsonValueKind.False):
            case "number" when kind != JsonValueKind.Number:
            case "array" when kind != JsonValueKind.Array:
                report(path, $"must be a value of type {spec.Type}");
                return;
            case "integer" when kind != JsonValueKind.Number || !IsWhole(value!):
                report(path, "must be a value of type integer (a whole number)");
                return;
        }
        if (spec.Enum is { } allowed && !allowed.Any(option => JsonNode.DeepEquals(option, value)))
            report(path, $"must be one of {allowed.ToJsonString()}");
        switch (spec.Type)
        {
            case "integer" or "number":
                var number = AsDouble(value!);
                if (number < spec.Minimum)
                    report(path, $"must be at least {spec.Minimum.Value.ToString(CultureInfo.InvariantCulture)}");
                if (number > spec.Maximum)
                    report(path, $"must be at most {spec.Maximum.Value.ToString(CultureInfo.InvariantCulture)}");
                break;
            case "string":
                var text = value!.GetValue<string>();
                if (text.Length < spec.MinLength)
                    report(path, $"must be at least {spec.MinLength} characters");
                if (text.Length > spec.MaxLength)
                    report(path, $"must be at most {spec.MaxLength} characters");
                if (spec.Pattern is { } pattern && !Matches(pattern, text))
                    report(path, $"must match the pattern {pattern}");
                break;
            case "array":
                var array = value!.AsArray();
                if (array.Count < spec.MinItems)
                    report(path, $"must hold at least {spec.MinItems} items");
                if (array.Count > spec.MaxItems)
                    report(path, $"must hold at most {spec.MaxItems} items");
                if (spec.Items is { } items)
                    for (var i = 0; i < array.Count; i++)
                        CheckValue(items, array[i], $"{path}[{i}]", report);
                break;
        }
    }

    /// <summary>A JSON number as a double, whether the node holds a long (from a reader) or a double.</summary>
    private static double AsDouble(JsonNode value) =>
        value.AsValue().TryGetValue<long>(out var whole) ? whole : value.GetValue<double>();

    private static bool IsWhole(JsonNode value) =>
        value.AsValue().TryGetValue<long>(out _) || (value.AsValue().TryGetValue<double>(out var number) && Math.Floor(number) == number);

    private static bool Matches(Regex pattern, string text)
    {
        try
        {
            return pattern.IsMatch(text);
        }
        catch (RegexMatchTimeoutException)
        {
            return false;
        }
    }

    private static List<TaskTemplate> Tasks(JsonNode? node, int maxTasks, List<ParameterSpec> parameters, DefinitionErrors errors)
    {
        var templates = new List<TaskTemplate>();
        if (node is not JsonArray { Count: > 0 } tasks)
        {
            errors.Add("tasks", "is required: a list of at least one task");
            return templates;
        }
        if (tasks.Count > maxTasks)
        {
            errors.Add("tasks", $"must list at most {maxTasks} tasks (a run creates them in one bulk request)");
            return templates;
        }
        var keys = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < tasks.Count; i++)
        {
            var path = $"tasks[{i}]";
            if (tasks[i] is not JsonObject task)
            {
                errors.Add(path, "must be a mapping with at least key and title");
                continue;
            }
            UnknownFields(task, path, TaskFields, errors);
            var key = Text(task, "key", Child(path, "key"), required: true, 64, errors);
            if (key is not null && !TaskKey().IsMatch(key))
                errors.Add(Child(path, "key"), "must be 1 to 64 letters, digits, underscores or hyphens");
            else if (key is not null && !keys.TryAdd(key, i))
                errors.Add(Child(path, "key"), $"duplicates the key of tasks[{keys[key]}]");
            if (task["title"] is null)
                errors.Add(Child(path, "title"), "is required");
            var forEach = ForEach(task["for_each"], Child(path, "for_each"), parameters, errors);
            var scope = new PlaceholderScope(parameters, forEach is null ? null : parameters.First(parameter => parameter.Name == forEach));
            foreach (var field in TextFields)
                if (task[field] is { } text)
                {
                    if (text.GetValueKind() != JsonValueKind.String)
                        errors.Add(Child(path, field), "must be text");
                    else
                        Placeholders.Check(text.GetValue<string>(), Child(path, field), scope, errors);
                }
            foreach (var field in IntegerFields)
                if (task[field] is { } number)
                    IntegerField(number, Child(path, field), scope, errors);
            foreach (var field in JsonFields)
                if (task[field] is { } json)
                    Placeholders.CheckStrings(json, Child(path, field), scope, errors);
            templates.Add(new TaskTemplate(i, key ?? "", forEach, task, []));
        }
        if (!errors.IsEmpty)
            return templates;
        templates = [.. templates.Select(template => template with { DependsOn = Dependencies(template, keys, errors) })];
        if (errors.IsEmpty)
            CheckGraph(templates, errors);
        return templates;
    }

    /// <summary>
    /// Cycles, by the bulk-create rules on one stand-in task per key: found whatever the parameters will be, and reported
    /// on the same paths, since stand-in i is tasks[i].
    /// </summary>
    private static void CheckGraph(List<TaskTemplate> templates, DefinitionErrors errors)
    {
        var standIns = templates.Select(template => new CreateTaskRequest(template.Key, null, "-", null, null, null, null, null, null, null,
            null, null, null,
            [.. template.DependsOn.Select(parent => (DependencyRequest?)new DependencyRequest(parent.Key, parent.Require))], null)).ToList();
        var graphErrors = new ValidationErrors();
        TaskPlan.Build(standIns, Guid.Empty, bulk: true, new DestinationPolicy(false, []), graphErrors);
        foreach (var (field, message) in graphErrors.Entries)
            errors.Add(field, message);
    }

    private static string? ForEach(JsonNode? node, string path, List<ParameterSpec> parameters, DefinitionErrors errors)
    {
        if (node is null)
            return null;
        if (node.GetValueKind() != JsonValueKind.String || Placeholders.Whole(node.GetValue<string>()) is not { } expression
            || !expression.StartsWith(Placeholders.ParamsPrefix, StringComparison.Ordinal))
        {
            errors.Add(path, "must be one placeholder naming an array parameter, such as \"{{ params.regions }}\"");
            return null;
        }
        var name = expression[Placeholders.ParamsPrefix.Length..];
        if (parameters.FirstOrDefault(parameter => parameter.Name == name) is not { } parameter)
        {
            errors.Add(path, $"names the undefined parameter '{name}'");
            return null;
        }
        if (parameter.Type != "array")
        {
            errors.Add(path, $"names '{name}', a parameter of type {parameter.Type}; for_each needs an array");
            return null;
        }
        return name;
    }

    private static void IntegerField(JsonNode node, string path, PlaceholderScope scope, DefinitionErrors errors)
    {
        if (node.GetValueKind() == JsonValueKind.Number)
        {
            if (!IsWhole(node))
                errors.Add(path, "must be a whole number");
            return;
        }
        if (node.GetValueKind() != JsonValueKind.String || Placeholders.Whole(node.GetValue<string>()) is not { } expression)
        {
            errors.Add(path, "must be a whole number or one placeholder of an integer parameter, such as \"{{ params.priority }}\"");
            return;
        }
        Placeholders.Check(node.GetValue<string>(), path, scope, errors);
        if (scope.TypeOf(expression) is { } type and not "integer")
            errors.Add(path, $"uses {{{{ {expression} }}}}, of type {type}; this field needs an integer");
    }

    private static List<TemplateDependency> Dependencies(TaskTemplate template, Dictionary<string, int> keys, DefinitionErrors errors)
    {
        var dependencies = new List<TemplateDependency>();
        var path = Child(template.Path, "depends_on");
        if (template.Fields["depends_on"] is not { } node)
            return dependencies;
        if (node is not JsonArray parents)
        {
            errors.Add(path, "must be a list of task keys");
            return dependencies;
        }
        for (var j = 0; j < parents.Count; j++)
        {
            var itemPath = $"{path}[{j}]";
            string? key = null;
            var require = RequireSuccess;
            if (parents[j] is JsonValue value && value.GetValueKind() == JsonValueKind.String)
                key = value.GetValue<string>();
            else if (parents[j] is JsonObject entry)
            {
                UnknownFields(entry, itemPath, ["key", "require"], errors);
                key = Text(entry, "key", Child(itemPath, "key"), required: true, 64, errors);
                require = Text(entry, "require", Child(itemPath, "require"), required: false, 20, errors) ?? RequireSuccess;
                if (require is not (RequireSuccess or RequireCompletion))
                    errors.Add(Child(itemPath, "require"), "must be success or completion");
            }
            else
            {
                errors.Add(itemPath, "must be a task key or a mapping with key and require");
                continue;
            }
            if (key is null)
                continue;
            if (!keys.ContainsKey(key))
                errors.Add(itemPath, $"names no task of this workflow ('{key}')");
            else if (key == template.Key)
                errors.Add(itemPath, "a task cannot depend on itself");
            else if (dependencies.Any(dependency => dependency.Key == key))
                errors.Add(itemPath, "duplicates another parent of this task");
            else
                dependencies.Add(new TemplateDependency(key, require));
        }
        return dependencies;
    }
}
