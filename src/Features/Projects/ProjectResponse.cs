namespace TaskRunner.Features.Projects;

/// <summary>The public shape of a project. Its version travels as the strong <c>ETag</c> header, not in the body.</summary>
public sealed record ProjectResponse(
    Guid Id,
    string Name,
    string? Description,
    Guid CreatedBy,
    DateTime CreatedAt,
    DateTime UpdatedAt,
    DateTime? DeletedAt);

/// <summary>
/// A project just created: its public shape plus <see cref="WebhookSecret"/>, the secret that signs the deliveries of its
/// tasks' inline actions, shown this once (rotate it with POST /projects/{id}/webhook-secret).
/// </summary>
public sealed record CreatedProjectResponse(
    Guid Id,
    string Name,
    string? Description,
    Guid CreatedBy,
    DateTime CreatedAt,
    DateTime UpdatedAt,
    DateTime? DeletedAt,
    string WebhookSecret);

/// <summary>A projects row as the queries read it.</summary>
public sealed record ProjectRow(
    Guid Id,
    string Name,
    string? Description,
    Guid CreatedBy,
    DateTime CreatedAt,
    DateTime UpdatedAt,
    DateTime? DeletedAt,
    long Version)
{
    public ProjectResponse ToResponse() => new(Id, Name, Description, CreatedBy, CreatedAt, UpdatedAt, DeletedAt);

    public CreatedProjectResponse ToCreatedResponse(string webhookSecret) =>
        new(Id, Name, Description, CreatedBy, CreatedAt, UpdatedAt, DeletedAt, webhookSecret);
}
