using System.ComponentModel.DataAnnotations;
using System.Globalization;
using Microsoft.Extensions.Options;

namespace TaskRunner.Infrastructure.Configuration;

/// <summary>How every node delivers webhooks from the outbox. Section <c>Webhooks</c>.</summary>
public sealed class WebhooksOptions : IValidatableObject
{
    public const string Section = "Webhooks";

    /// <summary>
    /// Deliveries one node sends at once. At the bound the node stops claiming; the rest waits in the outbox. 0: this node
    /// sends none (an API-only node; the other nodes deliver).
    /// </summary>
    [Range(0, 10_000, ErrorMessage = "must be between 0 and 10000")]
    public int MaxInFlight { get; set; } = 64;

    /// <summary>Deliveries one node sends to one host at once, so a slow receiver cannot take every slot.</summary>
    [Range(1, 10_000, ErrorMessage = "must be between 1 and 10000")]
    public int MaxInFlightPerHost { get; set; } = 16;

    /// <summary>How long one attempt may take until the receiver's response headers arrive.</summary>
    [Range(1, 300, ErrorMessage = "must be between 1 and 300")]
    public int AttemptTimeoutSeconds { get; set; } = 10;

    /// <summary>How long one attempt may take in all, reading the response included.</summary>
    [Range(1, 600, ErrorMessage = "must be between 1 and 600")]
    public int TotalTimeoutSeconds { get; set; } = 15;

    /// <summary>
    /// Seconds to wait before each retry, comma-separated: the delivery is tried once plus once per entry, then it is dead.
    /// Each wait is jittered (between 80 % and 120 %) and lengthened to the receiver's <c>Retry-After</c> when it asks for more.
    /// </summary>
    [Required(ErrorMessage = "is required")]
    public string RetrySchedule { get; set; } = "5,30,120,600,1800,3600,7200,21600";

    /// <summary>How long a claimed delivery belongs to its node; a node that dies leaves it to another after this.</summary>
    [Range(5, 3600, ErrorMessage = "must be between 5 and 3600")]
    public int LeaseSeconds { get; set; } = 60;

    /// <summary>Workers look for due deliveries at least this often (a NOTIFY wakes them at once for new ones).</summary>
    [Range(1, 3600, ErrorMessage = "must be between 1 and 3600")]
    public int PollSeconds { get; set; } = 2;

    /// <summary>After a secret is rotated, the old one keeps signing (beside the new one) for this many hours.</summary>
    [Range(0, 720, ErrorMessage = "must be between 0 and 720")]
    public int SecretGraceHours { get; set; } = 24;

    /// <summary>The longest <c>Retry-After</c> honoured; a receiver asking for more waits this long.</summary>
    [Range(1, 86_400, ErrorMessage = "must be between 1 and 86400")]
    public int MaxRetryAfterSeconds { get; set; } = 3600;

    /// <summary>The circuit of a host opens when at least half of this many attempts in 30 s failed, and stays open this long.</summary>
    [Range(1, 3600, ErrorMessage = "must be between 1 and 3600")]
    public int BreakSeconds { get; set; } = 15;

    /// <summary>
    /// Keys that encrypt the signing secrets stored in the database (AES-256-GCM), by key id: base64 of 32 bytes each. Old
    /// keys stay to read the secrets sealed with them. Empty: secrets are stored as they are (a warning at start).
    /// </summary>
    public Dictionary<string, string> SecretEncryptionKeys { get; set; } = [];

    /// <summary>The id of the key that seals new secrets; required when <see cref="SecretEncryptionKeys"/> holds any.</summary>
    public string? SecretEncryptionKeyId { get; set; }

    /// <summary>The retry waits in seconds; valid after startup validation.</summary>
    public IReadOnlyList<int> RetryDelays() => ParseSchedule(RetrySchedule) ?? [];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var (keyId, key) in SecretEncryptionKeys)
        {
            if (!WebhookSecretKeys.IsKeyId(keyId))
                yield return new ValidationResult($"key id '{keyId}' must be 1–32 letters, digits, '-' or '_'", [nameof(SecretEncryptionKeys)]);
            if (WebhookSecretKeys.Decode(key) is null)
                yield return new ValidationResult($"key '{keyId}' must be base64 of exactly {WebhookSecretKeys.KeyBytes} bytes", [nameof(SecretEncryptionKeys)]);
        }
        if (SecretEncryptionKeyId is { } active && !SecretEncryptionKeys.ContainsKey(active))
            yield return new ValidationResult($"names no key in {Section}:{nameof(SecretEncryptionKeys)}", [nameof(SecretEncryptionKeyId)]);
        if (SecretEncryptionKeyId is null && SecretEncryptionKeys.Count > 0)
            yield return new ValidationResult("is required when SecretEncryptionKeys holds keys (the id of the key that seals new secrets)",
                [nameof(SecretEncryptionKeyId)]);
    }

    public static int[]? ParseSchedule(string? schedule)
    {
        if (string.IsNullOrWhiteSpace(schedule))
            return null;
        var parts = schedule.Split(',', StringSplitOptions.TrimEntries);
        var delays = new int[parts.Length];
        for (var i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out delays[i]) || delays[i] is < 1 or > 604_800)
                return null;
        return delays.Length <= 50 ? delays : null;
    }
}

/// <summary>The shape of a secret encryption key and its id.</summary>
public static class WebhookSecretKeys
{
    public const int KeyBytes = 32;

    /// <summary>Key ids appear in the sealed value between separators, so they are kept to a safe alphabet.</summary>
    public static bool IsKeyId(string keyId) =>
        keyId.Length is >= 1 and <= 32 && keyId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    /// <summary>The key's bytes, or null when it is not base64 of exactly <see cref="KeyBytes"/> bytes.</summary>
    public static byte[]? Decode(string base64)
    {
        var buffer = new byte[base64.Length];
        return Convert.TryFromBase64String(base64, buffer, out var written) && written == KeyBytes ? buffer[..KeyBytes] : null;
    }
}

[OptionsValidator]
public sealed partial class WebhooksOptionsValidator : IValidateOptions<WebhooksOptions>;
