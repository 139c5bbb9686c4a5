using System.Text.Json;
using System.Text.Json.Serialization;
using TaskRunner.Infrastructure.Http;

namespace TaskRunner.Features.Tasks.CreateTasks;

/// <summary>
/// One task to create. In a bulk request <see cref="Ref"/> names it so siblings can depend on it, and
/// <see cref="ProjectId"/> may be left to the request's own <c>project_id</c>.
/// </summary>
public sealed record CreateTaskRequest(
    string? Ref,
    Guid? ProjectId,
    [property: ApiRequired] string? Title,
    string? Description,
    string? Kind,
    int? Priority,
    JsonElement? Metadata,
    int? TimeoutSeconds,
    DateTime? ScheduledAt,
    int? MaxRetries,
    string? ConcurrencyKey,
    string? DedupeKey,
    Guid? AssigneeId,
    DependencyRequest?[]? DependsOn,
    ActionRequest?[]? Actions);

/// <summary>Up to <c>Tasks:MaxBulkItems</c> tasks created together, all or none; <see cref="ProjectId"/> is the default project.</summary>
public sealed record BulkCreateTasksRequest(Guid? ProjectId, [property: ApiRequired] CreateTaskRequest?[]? Tasks);

/// <summary>The answer to a bulk create: the batch, every task in request order, and which id each ref became.</summary>
public sealed record BulkCreateTasksResponse(Guid BatchId, IReadOnlyList<TaskResponse> Tasks, IReadOnlyDictionary<string, Guid> Refs);

/// <summary>
/// A parent: a task id or, in a bulk request, a sibling's ref — written as a bare string, or as
/// <c>{"task_id": …, "require": "success"|"completion"}</c> / <c>{"ref": …, "require": …}</c>.
/// </summary>
[JsonConverter(typeof(DependencyRequestConverter))]
public sealed record DependencyRequest(string Target, string? Require);

/// <summary>Reads both forms of <see cref="DependencyRequest"/>; anything else is a 400 naming the element.</summary>
public sealed class DependencyRequestConverter : JsonConverter<DependencyRequest>
{
    public override DependencyRequest Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.String)
            return new DependencyRequest(reader.GetString()!, null);
        if (reader.TokenType != JsonTokenType.StartObject)
            throw new JsonException("A dependency is a task id, a ref, or an object with task_id or ref and require.");

        string? target = null;
        string? require = null;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var name = reader.GetString();
            reader.Read();
            if (reader.TokenType is not (JsonTokenType.String or JsonTokenType.Null))
                throw new JsonException($"The dependency's '{name}' must be a string.");
            var value = reader.GetString();
            switch (name)
            {
                case "task_id" or "ref" when target is null:
                    target = value;
                    break;
                case "require":
                    require = value;
                    break;
                default:
                    throw new JsonException($"A dependency takes task_id or ref, and require; '{name}' is not one of them.");
            }
        }
        return new DependencyRequest(target ?? "", require);
    }

    public override void Write(Utf8JsonWriter writer, DependencyRequest value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        writer.WriteString("task_id", value.Target);
        if (value.Require is not null)
            writer.WriteString("require", value.Require);
        writer.WriteEndObject();
    }
}
