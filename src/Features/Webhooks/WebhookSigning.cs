using System.Security.Cryptography;
using System.Text;

namespace TaskRunner.Features.Webhooks;

/// <summary>
/// Standard Webhooks signing (standardwebhooks.com): the signed content is <c>{webhook-id}.{webhook-timestamp}.{body}</c>,
/// each signature <c>v1,</c> + base64 HMAC-SHA256 under the secret's key (the base64 after <c>whsec_</c>), several
/// signatures separated by spaces — which is how a rotated secret's grace period works: receivers accept any one.
/// </summary>
public static class WebhookSigning
{
    public const string SecretPrefix = "whsec_";

    /// <summary>A new secret: 32 random bytes, as receivers' Standard Webhooks libraries expect it.</summary>
    public static string NewSecret() => SecretPrefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    /// <summary>The <c>webhook-signature</c> value for the body under every secret given (newest first), or null without secrets.</summary>
    public static string? Signature(IReadOnlyList<string> secrets, string messageId, long timestamp, ReadOnlySpan<byte> body)
    {
        if (secrets.Count == 0)
            return null;
        var prefix = Encoding.UTF8.GetBytes($"{messageId}.{timestamp}.");
        var content = new byte[prefix.Length + body.Length];
        prefix.CopyTo(content, 0);
        body.CopyTo(content.AsSpan(prefix.Length));
        var signature = new StringBuilder();
        foreach (var secret in secrets)
        {
            if (signature.Length > 0)
                signature.Append(' ');
            signature.Append("v1,").Append(Convert.ToBase64String(HMACSHA256.HashData(Key(secret), content)));
        }
        return signature.ToString();
    }

    private static byte[] Key(string secret) => Convert.FromBase64String(secret[SecretPrefix.Length..]);
}
