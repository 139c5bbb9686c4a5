using System.Text.Json.Nodes;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Workflows;

/// <summary>A task whose definition changed between two versions, and which of its fields did.</summary>
public sealed record ChangedTask(string Key, IReadOnlyList<string> Fields);

/// <summary>A dependency edge: <see cref="To"/> depends on <see cref="From"/>.</summary>
public sealed record WorkflowEdge(string From, string To, string Require);

/// <summary>
/// What changed from version <see cref="From"/> to <see cref="To"/>: top-level fields (name, description), parameters
/// and tasks by name/key (added, removed, changed with the changed fields), and dependency edges added and removed.
/// </summary>
public sealed record WorkflowDiffResponse(
    int From,
    int To,
    IReadOnlyList<string> Fields,
    IReadOnlyList<string> ParametersAdded,
    IReadOnlyList<string> ParametersRemoved,
    IReadOnlyList<string> ParametersChanged,
    IReadOnlyList<string> TasksAdded,
    IReadOnlyList<string> TasksRemoved,
    IReadOnlyList<ChangedTask> TasksChanged,
    IReadOnlyList<WorkflowEdge> EdgesAdded,
    IReadOnlyList<WorkflowEdge> EdgesRemoved);

/// <summary>GET /workflows/{id}/diff?from=1&amp;to=2: how two versions of a workflow differ, computed on their JSON definitions.</summary>
public static class DiffWorkflowVersions
{
    private static readonly string[] TopFields = ["name", "description"];

    private const string DefinitionSql = """
        SELECT definition::text FROM workflow_versions WHERE workflow_id = @id AND number = @number
        """;

    public static async Task<Results<Ok<WorkflowDiffResponse>, ProblemHttpResult>> Handle(
        Guid id,
        [FromQuery(Name = "from")] string? from,
        [FromQuery(Name = "to")] string? to,
        Caller caller,
        NpgsqlDataSource dataSource,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var fromNumber = Number(from, "from", errors);
        var toNumber = Number(to, "to", errors);
        if (!errors.IsEmpty)
            return errors.ToQueryProblem();

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var (_, problem) = await WorkflowAccess.FindAsync(connection, null, caller, id, ProjectRoles.Viewer, includeDeleted: false,
            forUpdate: false, cancellationToken);
        if (problem is not null)
            return problem;
        var before = await connection.QuerySingleOrDefaultAsync<string>(DefinitionSql, new { id, number = fromNumber, cancellationToken });
        var after = await connection.QuerySingleOrDefaultAsync<string>(DefinitionSql, new { id, number = toNumber, cancellationToken });
        if (before is null || after is null)
            return Problems.NotFound($"The workflow has no version {(before is null ? fromNumber : toNumber)}.");
        return TypedResults.Ok(Diff(fromNumber, toNumber, JsonNode.Parse(before)!.AsObject(), JsonNode.Parse(after)!.AsObject()));
    }

    private static int Number(string? value, string name, ValidationErrors errors)
    {
        if (int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number) && number >= 1)
            return number;
        errors.Add(name, "is required: a version number, 1 or more");
        return 0;
    }

    internal static WorkflowDiffResponse Diff(int from, int to, JsonObject before, JsonObject after)
    {
        var fields = TopFields.Where(field => !JsonNode.DeepEquals(before[field], after[field])).ToList();
        var (parametersAdded, parametersRemoved, parametersChanged) = Compare(Members(before["parameters"]), Members(after["parameters"]));
        var tasksBefore = Tasks(before);
        var tasksAfter = Tasks(after);
        var tasksAdded = tasksAfter.Keys.Except(tasksBefore.Keys).ToList();
        var tasksRemoved = tasksBefore.Keys.Except(tasksAfter.Keys).ToList();
        var tasksChanged = new List<ChangedTask>();
        foreach (var (key, task) in tasksAfter)
        {
            if (!tasksBefore.TryGetValue(key, out var old))
                continue;
            var changed = task.Select(pair => pair.Key).Union(old.Select(pair => pair.Key))
                .Where(field => field is not ("key" or "depends_on") && !JsonNode.DeepEquals(old[field], task[field]))
                .ToList();
            if (changed.Count > 0)
                tasksChanged.Add(new ChangedTask(key, changed));
        }
        var edgesBefore = Edges(tasksBefore);
        var edgesAfter = Edges(tasksAfter);
        return new WorkflowDiffResponse(from, to, fields, parametersAdded, parametersRemoved, parametersChanged, tasksAdded, tasksRemoved,
            tasksChanged, edgesAfter.Except(edgesBefore).ToList(), edgesBefore.Except(edgesAfter).ToList());
    }

    private static Dictionary<string, JsonNode?> Members(JsonNode? node) =>
        node is JsonObject map ? map.ToDictionary(pair => pair.Key, pair => pair.Value, StringComparer.Ordinal) : [];

    private static (List<string> Added, List<string> Removed, List<string> Changed) Compare(
        Dictionary<string, JsonNode?> before, Dictionary<string, JsonNode?> after) => (
        after.Keys.Except(before.Keys).ToList(),
        before.Keys.Except(after.Keys).ToList(),
        after.Keys.Intersect(before.Keys).Where(key => !JsonNode.DeepEquals(before[key], after[key])).ToList());

    /// <summary>The tasks by key, in definition order (a stored definition passed validation: keys are present and unique).</summary>
    private static Dictionary<string, JsonObject> Tasks(JsonObject definition) =>
        (definition["tasks"] as JsonArray ?? []).OfType<JsonObject>()
            .ToDictionary(task => task["key"]!.GetValue<string>(), task => task, StringComparer.Ordinal);

    private static List<WorkflowEdge> Edges(Dictionary<string, JsonObject> tasks) =>
        tasks.SelectMany(pair => (pair.Value["depends_on"] as JsonArray ?? []).Select(parent => parent switch
        {
            JsonObject entry => new WorkflowEdge(entry["key"]!.GetValue<string>(), pair.Key,
                entry["require"]?.GetValue<string>() ?? WorkflowDefinitions.RequireSuccess),
            _ => new WorkflowEdge(parent!.GetValue<string>(), pair.Key, WorkflowDefinitions.RequireSuccess),
        })).ToList();
}
