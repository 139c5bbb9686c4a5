namespace TaskRunner.Features.Users;

public sealed record UpdateUserRequest(string? Role, bool? Disabled, bool? TotpRequired);

/// <summary>What an update may change, read before it to record the diff.</summary>
public sealed record UserState(string Role, bool Disabled, bool TotpRequired);

/// <summary>What the account use cases (<see cref="GetCurrentUser"/>, <see cref="UpdateUser"/>) share.</summary>
public static class Users
{
    internal const string GetSql = """
        SELECT id, email, display_name, role, disabled, created_at, updated_at, totp_required, totp_enabled_at IS NOT NULL AS totp_enabled FROM users WHERE id = @id AND deleted_at IS NULL
        """;

}
