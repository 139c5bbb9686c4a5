using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Tasks.CreateTasks;

/// <summary>A parent edge of a planned task: a sibling in the same request, or an existing task.</summary>
internal readonly record struct PlannedEdge(int? SiblingIndex, Guid? ExistingParentId, string Require, string Path);

/// <summary>A validated task ready to insert, with its id assigned and its edges resolved.</summary>
internal sealed class PlannedTask
{
    public required int Index { get; init; }
    public required string Path { get; init; }
    public required Guid Id { get; set; }
    public required string? Ref { get; init; }
    public required Guid ProjectId { get; init; }
    public required string Title { get; init; }
    public required string? Description { get; init; }
    public required string Kind { get; init; }
    public required short Priority { get; init; }
    public required string Metadata { get; init; }
    public required int? TimeoutSeconds { get; init; }
    public required DateTime? ScheduledAt { get; init; }
    public required int MaxRetries { get; init; }
    public required string? ConcurrencyKey { get; init; }
    public required string? DedupeKey { get; init; }
    public required Guid? AssigneeId { get; init; }
    public required string Actions { get; init; }
    public List<PlannedEdge> Edges { get; } = [];

    /// <summary>Set when a live task with the same dedupe key exists: this item is that task, nothing is inserted.</summary>
    public bool Deduplicated { get; set; }

    public string Status { get; set; } = TaskRules.Pending;
    public int PendingParents { get; set; }
    public string? CancelReason { get; set; }
}

/// <summary>
/// Turns create requests into planned tasks: every field rule, then the graph rules — refs resolve, no duplicate or
/// self dependency, no cycle — in time linear in tasks plus edges. Everything that needs the database comes later.
/// </summary>
internal static class TaskPlan
{
    public const int MaxRefLength = 100;
    public const int MaxDependencies = 1000;

    /// <summary>
    /// Plans <paramref name="requests"/> (paths <c>tasks[i]</c> in a bulk request, the bare field names otherwise). Returns
    /// the tasks in an order where every sibling parent comes before its children, or null with <paramref name="errors"/> filled.
    /// </summary>
    public static List<PlannedTask>? Build(
        IReadOnlyList<CreateTaskRequest?> requests, Guid? defaultProjectId, bool bulk, DestinationPolicy destinations, ValidationErrors errors)
    {
        var tasks = new List<PlannedTask>(requests.Count);
        var refs = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < requests.Count; i++)
        {
            var path = bulk ? $"tasks[{i}]" : "";
            if (requests[i] is not { } request)
            {
                errors.Add(path, "must be a task object");
                continue;
            }
            var task = Validate(request, i, path, defaultProjectId, bulk, destinations, errors);
            if (task.Ref is { } reference && !refs.TryAdd(reference, i))
                errors.Add(Field(path, "ref"), $"duplicates the ref of tasks[{refs[reference]}]");
            tasks.Add(task);
        }
        // The graph rules do not depend on the field rules, so a bad field in one item and a self-dependency in another
        // are reported together. They index tasks by position, so they need every item to be a task object.
        if (tasks.Count < requests.Count)
            return null;

        ResolveEdges(requests, tasks, refs, bulk, errors);
        DeduplicateKeys(tasks, errors);
        var order = TopologicalOrder(tasks, errors);
        return errors.IsEmpty ? order : null;
    }

    private static string Field(string path, string field) => path.Length == 0 ? field : path + "." + field;

    /// <summary>
    /// One task the service creates by itself (a schedule's template): the same field rules as <see cref="Build"/>, errors
    /// under <paramref name="path"/> (<c>task.title</c>), in <paramref name="projectId"/>. It has no siblings, so no refs;
    /// parents are the caller's to refuse. Check <paramref name="errors"/> before using the result.
    /// </summary>
    public static PlannedTask BuildStandalone(
        CreateTaskRequest request, Guid projectId, string path, DestinationPolicy destinations, ValidationErrors errors) =>
        Validate(request, 0, path, projectId, bulk: false, destinations, errors);

    private static PlannedTask Validate(
        CreateTaskRequest request, int index, string path, Guid? defaultProjectId, bool bulk, DestinationPolicy destinations, ValidationErrors errors)
    {
        if (request.Ref is { } reference)
        {
            if (!bulk)
                errors.Add(Field(path, "ref"), "is only used in bulk requests, to name a task its siblings depend on");
            else if (reference.Length is 0 or > MaxRefLength || reference.Any(char.IsControl))
                errors.Add(Field(path, "ref"), $"must be 1 to {MaxRefLength} characters without control characters");
            else if (Guid.TryParse(reference, out _))
                errors.Add(Field(path, "ref"), "must not look like a task id");
        }
        var projectId = request.ProjectId ?? defaultProjectId;
        if (projectId is null)
            errors.Add(Field(path, "project_id"), "is required");
        TaskRules.Title(errors, Field(path, "title"), request.Title);
        TaskRules.Description(errors, Field(path, "description"), request.Description);
        TaskRules.Kind(errors, Field(path, "kind"), request.Kind);
        TaskRules.Priority(errors, Field(path, "priority"), request.Priority);
        var metadata = TaskRules.Metadata(errors, Field(path, "metadata"), request.Metadata);
        TaskRules.TimeoutSeconds(errors, Field(path, "timeout_seconds"), request.TimeoutSeconds);
        TaskRules.MaxRetriesValue(errors, Field(path, "max_retries"), request.MaxRetries);
        var scheduledAt = TaskRules.Timestamp(errors, Field(path, "scheduled_at"), request.ScheduledAt);
        TaskRules.Key(errors, Field(path, "concurrency_key"), request.ConcurrencyKey);
        TaskRules.Key(errors, Field(path, "dedupe_key"), request.DedupeKey);
        var actions = TaskRules.Actions(errors, Field(path, "actions"), request.Actions, destinations);
        if (request.DependsOn is { Length: > MaxDependencies })
            errors.Add(Field(path, "depends_on"), $"must list at most {MaxDependencies} parents");

        return new PlannedTask
        {
            Index = index,
            Path = path,
            Id = Ids.New(),
            Ref = request.Ref,
            ProjectId = projectId ?? Guid.Empty,
            Title = request.Title?.Trim() ?? "",
            Description = request.Description,
            Kind = request.Kind ?? "default",
            Priority = (short)(request.Priority ?? 50),
            Metadata = metadata ?? "{}",
            TimeoutSeconds = request.TimeoutSeconds,
            ScheduledAt = scheduledAt,
            MaxRetries = request.MaxRetries ?? 0,
            ConcurrencyKey = request.ConcurrencyKey,
            DedupeKey = request.DedupeKey,
            AssigneeId = request.AssigneeId,
            Actions = actions,
        };
    }

    /// <summary>Each depends_on entry becomes a sibling edge (a ref) or an existing-task edge (an id); checks what needs no database.</summary>
    private static void ResolveEdges(
        IReadOnlyList<CreateTaskRequest?> requests, List<PlannedTask> tasks, Dictionary<string, int> refs, bool bulk, ValidationErrors errors)
    {
        foreach (var task in tasks)
        {
            var dependsOn = requests[task.Index]!.DependsOn;
            if (dependsOn is null)
                continue;
            var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            for (var j = 0; j < dependsOn.Length; j++)
            {
                var path = $"{Field(task.Path, "depends_on")}[{j}]";
                if (dependsOn[j] is not { } dependency || dependency.Target.Length == 0)
                {
                    errors.Add(path, "must name a task id or a ref");
                    continue;
                }
                var require = dependency.Require ?? TaskRules.RequireSuccess;
                if (require is not (TaskRules.RequireSuccess or TaskRules.RequireCompletion))
                {
                    errors.Add(path + ".require", "must be success or completion");
                    continue;
                }
                if (Guid.TryParse(dependency.Target, out var parentId))
                {
                    if (!seen.Add(parentId.ToString()))
                        errors.Add(path, "duplicates another parent of this task");
                    else
                        task.Edges.Add(new PlannedEdge(null, parentId, require, path));
                    continue;
                }
                if (!bulk || !refs.TryGetValue(dependency.Target, out var sibling))
                {
                    errors.Add(path, bulk ? "is neither a task id nor the ref of a task in this request" : "must be a task id");
                    continue;
                }
                if (sibling == task.Index)
                    errors.Add(path, "a task cannot depend on itself");
                else if (!seen.Add(tasks[sibling].Id.ToString()))
                    errors.Add(path, "duplicates another parent of this task");
                else
                    task.Edges.Add(new PlannedEdge(sibling, null, require, path));
            }
        }
    }

    /// <summary>Two items of one request with the same dedupe key in one project would be the same task.</summary>
    private static void DeduplicateKeys(List<PlannedTask> tasks, ValidationErrors errors)
    {
        var keys = new Dictionary<(Guid, string), int>();
        foreach (var task in tasks)
            if (task.DedupeKey is { } key && !keys.TryAdd((task.ProjectId, key), task.Index))
                errors.Add(Field(task.Path, "dedupe_key"), $"duplicates the dedupe_key of tasks[{keys[(task.ProjectId, key)]}]");
    }

    /// <summary>
    /// Kahn's algorithm over the sibling edges: O(tasks + edges). Tasks left over lie on or behind a cycle; each cycle is
    /// walked once (parent to parent) and reported on every task in it, named by ref.
    /// </summary>
    private static List<PlannedTask>? TopologicalOrder(List<PlannedTask> tasks, ValidationErrors errors)
    {
        var waiting = new int[tasks.Count];
        var children = new List<int>?[tasks.Count];
        foreach (var task in tasks)
            foreach (var edge in task.Edges)
                if (edge.SiblingIndex is { } parent)
                {
                    waiting[task.Index]++;
                    (children[parent] ??= []).Add(task.Index);
                }

        var order = new List<PlannedTask>(tasks.Count);
        var ready = new Queue<int>();
        for (var i = 0; i < tasks.Count; i++)
            if (waiting[i] == 0)
                ready.Enqueue(i);
        while (ready.TryDequeue(out var next))
        {
            order.Add(tasks[next]);
            foreach (var child in children[next] ?? [])
                if (--waiting[child] == 0)
                    ready.Enqueue(child);
        }
        if (order.Count == tasks.Count)
            return order;

        ReportCycles(tasks, waiting, errors);
        return null;
    }

    private static void ReportCycles(List<PlannedTask> tasks, int[] waiting, ValidationErrors errors)
    {
        // 0: not visited, 1: on the walk in progress, 2: done. Every unfinished task has an unfinished sibling parent.
        var state = new byte[tasks.Count];
        var walk = new List<int>();
        for (var start = 0; start < tasks.Count; start++)
        {
            if (waiting[start] == 0 || state[start] != 0)
                continue;
            walk.Clear();
            var current = start;
            while (state[current] == 0)
            {
                state[current] = 1;
                walk.Add(current);
                current = tasks[current].Edges.First(edge => edge.SiblingIndex is { } parent && waiting[parent] > 0).SiblingIndex!.Value;
            }
            if (state[current] == 1)
            {
                var cycle = walk[walk.IndexOf(current)..];
                var names = string.Join(" → ", cycle.Append(current).Select(i => tasks[i].Ref ?? $"tasks[{i}]"));
                foreach (var member in cycle)
                    errors.Add(Field(tasks[member].Path, "depends_on"), $"forms a dependency cycle: {names}");
            }
            foreach (var visited in walk)
                state[visited] = 2;
        }
    }
}
