using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace TaskRunner.Infrastructure.Configuration;

/// <summary>Accounts, tokens, sessions and lockout. Section <c>Auth</c>.</summary>
public sealed class AuthOptions : IValidatableObject
{
    public const string Section = "Auth";
    private const int MinimumKeyBytes = 32;

    /// <summary>Whether anyone may create an account through POST /auth/register.</summary>
    public bool RegistrationEnabled { get; set; } = true;

    /// <summary>An admin account created at start when no user has this email (with <see cref="BootstrapAdminPassword"/>).</summary>
    [EmailAddress(ErrorMessage = "must be an email address")]
    public string? BootstrapAdminEmail { get; set; }

    public string? BootstrapAdminPassword { get; set; }

    [Required(ErrorMessage = "is required")]
    public string JwtIssuer { get; set; } = "taskrunner";

    [Required(ErrorMessage = "is required")]
    public string JwtAudience { get; set; } = "taskrunner-api";

    /// <summary>Signing keys by key id (<c>kid</c>), base64, at least 32 bytes each. Old keys stay to verify tokens during rotation.</summary>
    public Dictionary<string, string> JwtSigningKeys { get; set; } = [];

    /// <summary>The key id new tokens are signed with.</summary>
    [Required(ErrorMessage = "is required (the kid of the key that signs new tokens)")]
    public string JwtActiveKeyId { get; set; } = "";

    [Range(1, 1440, ErrorMessage = "must be between 1 and 1440")]
    public int AccessTokenMinutes { get; set; } = 15;

    /// <summary>A session not refreshed for this long ends.</summary>
    [Range(1, 525_600, ErrorMessage = "must be between 1 and 525600")]
    public int SessionIdleMinutes { get; set; } = 7 * 24 * 60;

    /// <summary>A session ends this long after login, however active.</summary>
    [Range(1, 365, ErrorMessage = "must be between 1 and 365")]
    public int SessionAbsoluteDays { get; set; } = 30;

    [Range(1, 100, ErrorMessage = "must be between 1 and 100")]
    public int MaxFailedLogins { get; set; } = 5;

    [Range(1, 10_080, ErrorMessage = "must be between 1 and 10080")]
    public int LockoutMinutes { get; set; } = 15;

    /// <summary>Failed logins from one address within <see cref="IpWindowMinutes"/> before it is slowed down.</summary>
    [Range(1, 10_000, ErrorMessage = "must be between 1 and 10000")]
    public int IpMaxFailures { get; set; } = 20;

    [Range(1, 1440, ErrorMessage = "must be between 1 and 1440")]
    public int IpWindowMinutes { get; set; } = 15;

    [Range(1, 1440, ErrorMessage = "must be between 1 and 1440")]
    public int IpBlockMinutes { get; set; } = 15;

    /// <summary>Password hashes (logins, registrations) computed at once on this node; each takes a core for a while.</summary>
    [Range(1, 1024, ErrorMessage = "must be between 1 and 1024")]
    public int MaxConcurrentPasswordHashes { get; set; } = 4;

    /// <summary>How long a login or registration waits for a hashing slot before it is answered 503 with Retry-After.</summary>
    [Range(0, 30_000, ErrorMessage = "must be between 0 and 30000")]
    public int PasswordHashQueueMilliseconds { get; set; } = 1000;

    /// <summary>Minutes a reset token (issued by an admin for an existing account) stays usable.</summary>
    [Range(1, 10_080, ErrorMessage = "must be between 1 and 10080")]
    public int PasswordResetTokenMinutes { get; set; } = 60;

    /// <summary>Minutes the set-password token of an account an admin created stays usable.</summary>
    [Range(1, 43_200, ErrorMessage = "must be between 1 and 43200")]
    public int SetPasswordTokenMinutes { get; set; } = 1440;

    /// <summary>Admins must have a TOTP second factor: until they enrol one, their sessions may only enrol it.</summary>
    public bool RequireTotpForAdmins { get; set; }

    /// <summary>How far a signed request's timestamp may be from the server's clock, either way (see RequestSignatures).</summary>
    [Range(1, 3600, ErrorMessage = "must be between 1 and 3600")]
    public int SignatureMaxSkewSeconds { get; set; } = 300;

    /// <summary>Days ended sessions (expired or revoked), used refresh tokens and stale login-failure counts are kept.</summary>
    [Range(1, 3650, ErrorMessage = "must be between 1 and 3650")]
    public int RetentionDays { get; set; } = 7;

    /// <summary>Minutes between two sweeps of those rows on each node.</summary>
    [Range(1, 10_080, ErrorMessage = "must be between 1 and 10080")]
    public int RetentionSweepMinutes { get; set; } = 60;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (JwtSigningKeys.Count == 0)
            yield return new ValidationResult("must hold at least one key (kid → base64, 32+ bytes)", [nameof(JwtSigningKeys)]);
        foreach (var (keyId, key) in JwtSigningKeys)
        {
            if (DecodedLength(key) < MinimumKeyBytes)
                yield return new ValidationResult($"key '{keyId}' must be base64 of at least {MinimumKeyBytes} bytes", [nameof(JwtSigningKeys)]);
        }
        if (JwtActiveKeyId.Length > 0 && !JwtSigningKeys.ContainsKey(JwtActiveKeyId))
            yield return new ValidationResult($"names no key in {Section}:{nameof(JwtSigningKeys)}", [nameof(JwtActiveKeyId)]);
        if (BootstrapAdminPassword is { Length: < 12 })
            yield return new ValidationResult("must be at least 12 characters", [nameof(BootstrapAdminPassword)]);
        if ((BootstrapAdminEmail is null) != (BootstrapAdminPassword is null))
            yield return new ValidationResult("and BootstrapAdminPassword must be set together", [nameof(BootstrapAdminEmail)]);
    }

    private static int DecodedLength(string base64)
    {
        var buffer = new byte[base64.Length];
        return Convert.TryFromBase64String(base64, buffer, out var written) ? written : 0;
    }
}

[OptionsValidator]
public sealed partial class AuthOptionsValidator : IValidateOptions<AuthOptions>;
