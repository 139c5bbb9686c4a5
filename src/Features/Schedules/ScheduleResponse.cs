using System.Text.Json.Nodes;
using TaskRunner.Features.Webhooks;
using TaskRunner.Infrastructure.Http;

namespace TaskRunner.Features.Schedules;

/// <summary>
/// The public shape of a schedule. Exactly one of <c>task</c> (the template as stored, header values of its actions
/// redacted) and <c>workflow</c> (the workflow run it starts) is present; <c>next_fire_at</c> is null while disabled or
/// when the expression has no future occurrence.
/// </summary>
public sealed record ScheduleResponse(
    Guid Id,
    Guid ProjectId,
    string Cron,
    string Timezone,
    RawJson? Task,
    ScheduleWorkflowResponse? Workflow,
    bool Enabled,
    string OverlapPolicy,
    int CatchUpSeconds,
    DateTime? NextFireAt,
    DateTime? LastFireAt,
    Guid CreatedBy,
    DateTime CreatedAt,
    DateTime UpdatedAt);

/// <summary>The workflow run a schedule starts: <c>version</c> null means the workflow's default version at each fire.</summary>
public sealed record ScheduleWorkflowResponse(Guid WorkflowId, int? Version, RawJson Params);

/// <summary>A schedule as <see cref="ScheduleReads.SelectSql"/> reads it; <see cref="Version"/> is its strong ETag.</summary>
public sealed record ScheduleRow(
    Guid Id,
    Guid ProjectId,
    string Cron,
    string Timezone,
    string? TaskTemplate,
    Guid? WorkflowId,
    int? WorkflowVersion,
    string? WorkflowParams,
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
        Id, ProjectId, Cron, Timezone, TaskTemplate is null ? null : new RawJson(RedactedTemplate(TaskTemplate)),
        WorkflowId is { } workflowId ? new ScheduleWorkflowResponse(workflowId, WorkflowVersion, new RawJson(WorkflowParams ?? "{}")) : null,
        Enabled, OverlapPolicy, CatchUpSeconds, NextFireAt, LastFireAt, CreatedBy, CreatedAt, UpdatedAt);

    /// <summary>A task template (a JSON object) with the header values of its actions redacted.</summary>
    public static string RedactedTemplate(string template) => RedactedTemplateNode(JsonNode.Parse(template))!.ToJsonString();

    /// <summary>The template as a node for an audit diff, redacted; null for a workflow schedule.</summary>
    public static JsonNode? RedactedTemplateNode(string? template) => template is null ? null : RedactedTemplateNode(JsonNode.Parse(template));

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
        s.id, s.project_id, s.cron, s.timezone, s.task_template::text AS task_template, s.workflow_id, s.workflow_version,
        s.workflow_params::text AS workflow_params, s.enabled, s.overlap_policy,
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
        reader.IsDBNull(4) ? null : reader.GetString(4),
        reader.IsDBNull(5) ? null : reader.GetGuid(5),
        reader.IsDBNull(6) ? null : reader.GetInt32(6),
        reader.IsDBNull(7) ? null : reader.GetString(7),
        reader.GetBoolean(8),
        reader.GetString(9),
        reader.GetInt32(10),
        reader.IsDBNull(11) ? null : reader.GetFieldValue<DateTime>(11),
        reader.IsDBNull(12) ? null : reader.GetFieldValue<DateTime>(12),
        reader.GetGuid(13),
        reader.GetFieldValue<DateTime>(14),
        reader.GetFieldValue<DateTime>(15),
        reader.GetInt64(16));
}
