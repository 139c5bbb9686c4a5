namespace TaskRunner.Features.Projects;

/// <summary>A member of a project: the account, its role in the project and when it was added.</summary>
public sealed record ProjectMemberResponse(Guid UserId, string Role, string Email, string DisplayName, DateTime CreatedAt);

/// <summary>A project_members row joined to its user, as the queries read it.</summary>
public sealed record ProjectMemberRow(Guid UserId, string Role, string Email, string DisplayName, DateTime CreatedAt)
{
    public ProjectMemberResponse ToResponse() => new(UserId, Role, Email, DisplayName, CreatedAt);
}
