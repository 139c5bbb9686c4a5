using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;

namespace TaskRunner.Features.Workflows;

/// <summary>The public shape of a workflow: its name and description are those of its latest version.</summary>
public sealed record WorkflowResponse(
    Guid Id,
    Guid ProjectId,
    string Name,
    string? Description,
    int DefaultVersion,
    int LatestVersion,
    Guid CreatedBy,
    DateTime CreatedAt,
    DateTime UpdatedAt,
    DateTime? DeletedAt);

/// <summary>A workflow as <see cref="WorkflowReads.SelectSql"/> reads it; <see cref="Version"/> is its strong ETag.</summary>
public sealed record WorkflowRow(
    Guid Id,
    Guid ProjectId,
    string Name,
    string? Description,
    int DefaultVersion,
    int LatestVersion,
    Guid CreatedBy,
    DateTime CreatedAt,
    DateTime UpdatedAt,
    DateTime? DeletedAt,
    long Version)
{
    public WorkflowResponse ToResponse() =>
        new(Id, ProjectId, Name, Description, DefaultVersion, LatestVersion, CreatedBy, CreatedAt, UpdatedAt, DeletedAt);
}

/// <summary>
/// One immutable version of a definition: <c>definition</c> is its JSON form (what runs read), <c>source</c> the text
/// as it was sent, in <c>source_format</c> (yaml or json).
/// </summary>
public sealed record WorkflowVersionResponse(
    Guid WorkflowId,
    int Number,
    bool IsDefault,
    RawJson Definition,
    string Source,
    string SourceFormat,
    Guid CreatedBy,
    DateTime CreatedAt);

/// <summary>A version in a list: without its definition and source.</summary>
public sealed record WorkflowVersionSummary(Guid WorkflowId, int Number, bool IsDefault, string SourceFormat, Guid CreatedBy, DateTime CreatedAt);

/// <summary>A workflow version as stored.</summary>
public sealed record WorkflowVersionRow(
    Guid Id, Guid WorkflowId, int Number, string Definition, string Source, string SourceFormat, Guid CreatedBy, DateTime CreatedAt, int DefaultVersion)
{
    public WorkflowVersionResponse ToResponse() =>
        new(WorkflowId, Number, Number == DefaultVersion, new RawJson(Definition), Source, SourceFormat, CreatedBy, CreatedAt);

    public WorkflowVersionSummary ToSummary() => new(WorkflowId, Number, Number == DefaultVersion, SourceFormat, CreatedBy, CreatedAt);
}

/// <summary>The shared selects of the slice: live projects only; a caller adds its own WHERE.</summary>
internal static class WorkflowReads
{
    public const string Columns = """
        w.id, w.project_id, w.name, w.description, w.default_version, w.latest_version, w.created_by, w.created_at,
        w.updated_at, w.deleted_at, w.version
        """;

    public const string SelectSql = "SELECT " + Columns + " " + """
        FROM workflows w
        JOIN projects p ON p.id = w.project_id AND p.deleted_at IS NULL
        """;

    public const string VersionColumns = """
        v.id, v.workflow_id, v.number, v.definition::text AS definition, v.source, v.source_format, v.created_by, v.created_at,
        w.default_version
        """;

    public const string SelectVersionSql = "SELECT " + VersionColumns + " " + """
        FROM workflow_versions v
        JOIN workflows w ON w.id = v.workflow_id
        """;

    /// <summary>A row of <see cref="SelectSql"/>.</summary>
    public static WorkflowRow Read(NamedRow row) => new(
        row.Get<Guid>("id"), row.Get<Guid>("project_id"), row.Get<string>("name"), row.GetOrNull<string>("description"),
        row.Get<int>("default_version"), row.Get<int>("latest_version"), row.Get<Guid>("created_by"), row.Get<DateTime>("created_at"),
        row.Get<DateTime>("updated_at"), row.Get<DateTime?>("deleted_at"), row.Get<long>("version"));

    /// <summary>A row of <see cref="SelectVersionSql"/>.</summary>
    public static WorkflowVersionRow ReadVersion(NamedRow row) => new(
        row.Get<Guid>("id"), row.Get<Guid>("workflow_id"), row.Get<int>("number"), row.Get<string>("definition"),
        row.Get<string>("source"), row.Get<string>("source_format"), row.Get<Guid>("created_by"), row.Get<DateTime>("created_at"),
        row.Get<int>("default_version"));
}
