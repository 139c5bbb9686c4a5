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

    /// <summary>A row of <see cref="SelectSql"/> read by plain Npgsql, in column order.</summary>
    public static WorkflowRow Read(Npgsql.NpgsqlDataReader reader) => new(
        reader.GetGuid(0),
        reader.GetGuid(1),
        reader.GetString(2),
        reader.IsDBNull(3) ? null : reader.GetString(3),
        reader.GetInt32(4),
        reader.GetInt32(5),
        reader.GetGuid(6),
        reader.GetFieldValue<DateTime>(7),
        reader.GetFieldValue<DateTime>(8),
        reader.IsDBNull(9) ? null : reader.GetFieldValue<DateTime>(9),
        reader.GetInt64(10));

    /// <summary>A row of <see cref="SelectVersionSql"/> read by plain Npgsql, in column order.</summary>
    public static WorkflowVersionRow ReadVersion(Npgsql.NpgsqlDataReader reader) => new(
        reader.GetGuid(0),
        reader.GetGuid(1),
        reader.GetInt32(2),
        reader.GetString(3),
        reader.GetString(4),
        reader.GetString(5),
        reader.GetGuid(6),
        reader.GetFieldValue<DateTime>(7),
        reader.GetInt32(8));
}
