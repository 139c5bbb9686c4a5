using TaskRunner.Infrastructure.Http;

namespace TaskRunner.Features.Users;

/// <summary>What makes an email, password and display name acceptable; shared by registration and the bootstrap admin.</summary>
public static class AccountRules
{
    public const int PasswordMinLength = 12;
    public const int PasswordMaxLength = 128;

    /// <summary>Emails are compared in lower case; returns the normalised email when valid.</summary>
    public static string? ValidateEmail(ValidationErrors errors, string field, string? email)
    {
        if (!errors.RequireLength(field, email?.Trim(), 3, 320))
            return null;
        var trimmed = email!.Trim();
        var at = trimmed.IndexOf('@', StringComparison.Ordinal);
        if (at <= 0 || at != trimmed.LastIndexOf('@') || at == trimmed.Length - 1 || trimmed.Any(char.IsWhiteSpace))
        {
            errors.Add(field, "must be an email address");
            return null;
        }
        return trimmed.ToLowerInvariant();
    }

    public static void ValidatePassword(ValidationErrors errors, string field, string? password) =>
        errors.RequireLength(field, password, PasswordMinLength, PasswordMaxLength);
}
