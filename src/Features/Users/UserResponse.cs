namespace TaskRunner.Features.Users;

/// <summary>
/// The public shape of an account: never the password hash, lockout counters or second-factor secret. <c>totp_required</c>:
/// an admin requires a second factor of this user; <c>totp_enabled</c>: the user has one.
/// </summary>
public sealed record UserResponse(
    Guid Id,
    string Email,
    string DisplayName,
    string Role,
    bool Disabled,
    DateTime CreatedAt,
    DateTime UpdatedAt,
    bool TotpRequired,
    bool TotpEnabled);

/// <summary>A users row as the queries read it.</summary>
public sealed record UserRow(
    Guid Id,
    string Email,
    string DisplayName,
    string Role,
    bool Disabled,
    DateTime CreatedAt,
    DateTime UpdatedAt,
    bool TotpRequired,
    bool TotpEnabled)
{
    public UserResponse ToResponse() => new(Id, Email, DisplayName, Role, Disabled, CreatedAt, UpdatedAt, TotpRequired, TotpEnabled);
}
