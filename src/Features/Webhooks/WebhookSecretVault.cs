using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using TaskRunner.Infrastructure.Configuration;

namespace TaskRunner.Features.Webhooks;

/// <summary>
/// Signing secrets at rest. Signing needs the secret itself (a hash would not do), so with
/// <c>Webhooks:SecretEncryptionKeys</c> set a secret is stored sealed: <c>aesgcm:{key id}:{base64 nonce | ciphertext |
/// tag}</c>, and a copy of the database alone signs nothing. A stored value that starts with <c>whsec_</c> was stored
/// before a key was configured (or without one) and is read as it is.
/// </summary>
public sealed class WebhookSecretVault
{
    private const string Scheme = "aesgcm:";
    private const int NonceBytes = 12;
    private const int TagBytes = 16;

    // Binds a sealed value to its purpose: the same keys can never be made to open something sealed for another use.
    private static readonly byte[] Purpose = "taskrunner/webhook-signing-secret"u8.ToArray();

    private readonly Dictionary<string, byte[]> keys;
    private readonly string? activeKeyId;

    public WebhookSecretVault(IOptions<WebhooksOptions> options, ILogger<WebhookSecretVault> logger)
    {
        var settings = options.Value;
        keys = settings.SecretEncryptionKeys.ToDictionary(pair => pair.Key, pair => WebhookSecretKeys.Decode(pair.Value)!, StringComparer.Ordinal);
        activeKeyId = settings.SecretEncryptionKeyId;
        if (activeKeyId is null)
            logger.LogWarning("Webhooks:SecretEncryptionKeys is not set: new webhook signing secrets are stored in the database unencrypted");
    }

    /// <summary>The value to store for a new secret: sealed under the active key, or the secret itself without one.</summary>
    public string Seal(string secret)
    {
        if (activeKeyId is null)
            return secret;
        var plain = Encoding.UTF8.GetBytes(secret);
        var sealedBytes = new byte[NonceBytes + plain.Length + TagBytes];
        var nonce = sealedBytes.AsSpan(0, NonceBytes);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(keys[activeKeyId], TagBytes);
        aes.Encrypt(nonce, plain, sealedBytes.AsSpan(NonceBytes, plain.Length), sealedBytes.AsSpan(NonceBytes + plain.Length), Purpose);
        return $"{Scheme}{activeKeyId}:{Convert.ToBase64String(sealedBytes)}";
    }

    /// <summary>How every value sealed under the active key starts; null without one.</summary>
    public string? ActivePrefix => activeKeyId is null ? null : $"{Scheme}{activeKeyId}:";

    /// <summary>The secrets as stored, opened; or null and why not, when one of them cannot be (its key is gone, or it was altered).</summary>
    public string[]? Open(IReadOnlyList<string> stored, out string? error)
    {
        var secrets = new string[stored.Count];
        for (var i = 0; i < stored.Count; i++)
        {
            if (TryOpen(stored[i], out var secret, out error))
                secrets[i] = secret;
            else
                return null;
        }
        error = null;
        return secrets;
    }

    public bool TryOpen(string stored, out string secret, out string? error)
    {
        secret = stored;
        error = null;
        if (stored.StartsWith(WebhookSigning.SecretPrefix, StringComparison.Ordinal))
            return true;
        var separator = stored.IndexOf(':', Scheme.Length);
        if (!stored.StartsWith(Scheme, StringComparison.Ordinal) || separator < 0)
        {
            error = "its signing secret is stored in an unknown form";
            return false;
        }
        var keyId = stored[Scheme.Length..separator];
        if (!keys.TryGetValue(keyId, out var key))
        {
            error = $"its signing secret is sealed with key '{keyId}', which Webhooks:SecretEncryptionKeys does not hold";
            return false;
        }
        var buffer = new byte[stored.Length];
        if (!Convert.TryFromBase64String(stored[(separator + 1)..], buffer, out var length) || length < NonceBytes + TagBytes)
        {
            error = "its sealed signing secret is damaged";
            return false;
        }
        var sealedBytes = buffer.AsSpan(0, length);
        var plain = new byte[length - NonceBytes - TagBytes];
        try
        {
            using var aes = new AesGcm(key, TagBytes);
            aes.Decrypt(sealedBytes[..NonceBytes], sealedBytes[NonceBytes..^TagBytes], sealedBytes[^TagBytes..], plain, Purpose);
        }
        catch (AuthenticationTagMismatchException)
        {
            error = $"its sealed signing secret does not open with key '{keyId}' (altered, or sealed with another key of that id)";
            return false;
        }
        secret = Encoding.UTF8.GetString(plain);
        return true;
    }
}
