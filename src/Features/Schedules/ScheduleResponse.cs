using System.Text.Json.Nodes;
using TaskRunner.Features.Webhooks;
using TaskRunner.Infrastructure.Http;

namespace TaskRunner.Features.Schedules;

/// <summary>
/// The public shape of a schedule. <c>task</c> is the template as stored, header values of its actions redacted; <c>next_fire_at</c> is null while disabled or
/// when the expression has no future occurrence.
/// </summary>
public sealed record ScheduleResponse(
    Guid Id,
    Guid ProjectId,
    string Cron,
    string Timezone,
    RawJson Task,
    bool Enabled,
    string OverlapPolicy,
    int CatchUpSeconds,
    DateTime? NextFireAt,
    DateTime? LastFireAt,
    Guid CreatedBy,
    DateTime CreatedAt,
    DateTime UpdatedAt);

/// <summary>A schedule as <see cref="ScheduleReads.SelectSql"/> reads it; <see cref="Version"/> is its strong ETag.</summary>
public sealed record ScheduleRow(
    Guid Id,
    Guid ProjectId,
    string Cron,
    string Timezone,
    string TaskTemplate,
    bool Enabled,
    string OverlapPolicy,
    int CatchUpSeconds,
    DateTime? NextFireAt,
    DateTime? LastFireAt,
    Guid CreatedBy,
    DateTime CreatedAt,
    DateTime UpdatedAt,
    long Version)
{
    public ScheduleResponse ToResponse() => new(
        Id, ProjectId, Cron, Timezone, new RawJson(RedactedTemplate(TaskTemplate)), Enabled, OverlapPolicy, CatchUpSeconds, NextFireAt, LastFireAt,
        CreatedBy, CreatedAt, UpdatedAt);

    /// <summary>A task template (a JSON object) with the header values of its actions redacted.</summary>
    public static string RedactedTemplate(string template) => RedactedTemplateNode(JsonNode.Parse(template))!.ToJsonString();

    public static JsonNode? RedactedTemplateNode(JsonNode? template)
    {
        if (template is JsonObject task)
            ActionHeaders.RedactActionsNode(task["actions"]);
        return template;
    }
}

/// <summary>
/// The one select every schedule read uses: live schedules of live projects, the project aliased <c>p</c>. It ends with the
/// joins, so a caller adds its own WHERE (or hands it to <see cref="Infrastructure.Database.FilteredQuery"/>).
/// </summary>
internal static class ScheduleReads
{
    public const string Columns = """
        s.id, s.project_id, s.cron, s.timezone, s.task_template::text AS task_template, s.enabled, s.overlap_policy,
        s.catch_up_seconds, s.next_fire_at, s.last_fire_at, s.created_by, s.created_at, s.updated_at, s.version
        """;

    public const string SelectSql = "SELECT " + Columns + " " + """
        FROM schedules s
        JOIN projects p ON p.id = s.project_id AND p.deleted_at IS NULL AND s.deleted_at IS NULL
        """;

    /// <summary>A row of <see cref="SelectSql"/> read by plain Npgsql, in column order.</summary>
    public static ScheduleRow Read(Npgsql.NpgsqlDataReader reader) => new(
        reader.GetGuid(0),
        reader.GetGuid(1),
        reader.GetString(2),
        reader.GetString(3),
        reader.GetString(4),
        reader.GetBoolean(5),
        reader.GetString(6),
        reader.GetInt32(7),
        reader.IsDBNull(8) ? null : reader.GetFieldValue<DateTime>(8),
        reader.IsDBNull(9) ? null : reader.GetFieldValue<DateTime>(9),
        reader.GetGuid(10),
        reader.GetFieldValue<DateTime>(11),
        reader.GetFieldValue<DateTime>(12),
        reader.GetInt64(13));
}
