using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace TaskRunner.Infrastructure.Configuration;

/// <summary>Signing of list cursors. Section <c>Cursors</c>.</summary>
public sealed class CursorOptions : IValidatableObject
{
    public const string Section = "Cursors";
    public const int MinimumKeyBytes = 32;

    /// <summary>
    /// Used only in the Development and Testing environments when no key is configured, so `make run` and the tests need
    /// no secret. Every other environment must configure its own: a cursor issued by one node must verify on every node,
    /// which rules out a random per-process key.
    /// </summary>
    internal const string DevelopmentSigningKey = "ZGV2ZWxvcG1lbnQtb25seSBjdXJzb3Igc2lnbmluZyBrZXkh";

    /// <summary>Base64 of at least 32 random bytes, the same on every node. Changing it invalidates outstanding cursors (400).</summary>
    public string SigningKey { get; set; } = "";

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (string.IsNullOrWhiteSpace(SigningKey))
            yield return new ValidationResult(
                $"is required (base64 of at least {MinimumKeyBytes} random bytes, the same on every node)", [nameof(SigningKey)]);
        else if (KeyBytes() is null)
            yield return new ValidationResult($"must be base64 of at least {MinimumKeyBytes} bytes", [nameof(SigningKey)]);
    }

    /// <summary>The decoded key, or null when it is not base64 of at least <see cref="MinimumKeyBytes"/> bytes.</summary>
    public byte[]? KeyBytes()
    {
        var buffer = new byte[SigningKey.Length];
        return Convert.TryFromBase64String(SigningKey, buffer, out var written) && written >= MinimumKeyBytes
            ? buffer[..written]
            : null;
    }

    /// <summary>Fills in <see cref="DevelopmentSigningKey"/> when none is configured, in Development and Testing only.</summary>
    public static void DefaultKeyOutsideProduction(CursorOptions options, IHostEnvironment environment)
    {
        if (string.IsNullOrWhiteSpace(options.SigningKey)
            && (environment.IsDevelopment() || environment.IsEnvironment("Testing")))
            options.SigningKey = DevelopmentSigningKey;
    }
}

[OptionsValidator]
public sealed partial class CursorOptionsValidator : IValidateOptions<CursorOptions>;
