using System.Text.Json.Nodes;
using TaskRunner.Features.Webhooks;
using TaskRunner.Infrastructure.Database;
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

    /// <summary>A row of <see cref="SelectSql"/>.</summary>
    public static ScheduleRow Read(NamedRow row) => new(
        row.Get<Guid>("id"), row.Get<Guid>("project_id"), row.Get<string>("cron"), row.Get<string>("timezone"),
        row.GetOrNull<string>("task_template"), row.Get<Guid?>("workflow_id"), row.Get<int?>("workflow_version"),
        row.GetOrNull<string>("workflow_params"), row.Get<bool>("enabled"), row.Get<string>("overlap_policy"),
        row.Get<int>("catch_up_seconds"), row.Get<DateTime?>("next_fire_at"), row.Get<DateTime?>("last_fire_at"),
        row.Get<Guid>("created_by"), row.Get<DateTime>("created_at"), row.Get<DateTime>("updated_at"), row.Get<long>("version"));
}
