namespace TaskRunner.Features.Users;

/// <summary>The public shape of an account: never the password hash or lockout counters.</summary>
public sealed record UserResponse(
    Guid Id,
    string Email,
    string DisplayName,
    string Role,
    bool Disabled,
    DateTime CreatedAt,
    DateTime UpdatedAt);

/// <summary>A users row as the queries read it.</summary>
public sealed record UserRow(
    Guid Id,
    string Email,
    string DisplayName,
    string Role,
    bool Disabled,
    DateTime CreatedAt,
    DateTime UpdatedAt)
{
    public UserResponse ToResponse() => new(Id, Email, DisplayName, Role, Disabled, CreatedAt, UpdatedAt);
}
