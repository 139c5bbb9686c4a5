using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.RateLimiting;

namespace TaskRunner.Infrastructure.Security;

/// <summary>
/// API keys look like <c>trk_&lt;12-char prefix&gt;_&lt;secret&gt;</c>: the prefix finds the key, the secret is checked
/// against its SHA-256 in constant time.
/// </summary>
public static class ApiKeyFormat
{
    public const string HeaderName = "X-API-Key";
    private const string Marker = "trk_";
    public const int PrefixLength = 12;
    private const int MaxLength = 128;

    public static string Compose(string prefix, string secret) => $"{Marker}{prefix}_{secret}";

    /// <summary>A key's public id, <c>trk_&lt;prefix&gt;</c>: what a key that signs its requests sends instead of itself.</summary>
    public static string Id(string prefix) => Marker + prefix;

    public static bool TryParseId(string value, out string prefix)
    {
        prefix = "";
        if (value.Length != Marker.Length + PrefixLength || !value.StartsWith(Marker, StringComparison.Ordinal))
            return false;
        prefix = value[Marker.Length..];
        return prefix.All(char.IsAsciiLetterOrDigit);
    }

    public static bool TryParse(string value, out string prefix, out string secret)
    {
        prefix = secret = "";
        if (value.Length is < 20 or > MaxLength || !value.StartsWith(Marker, StringComparison.Ordinal)
            || value.Length <= Marker.Length + PrefixLength + 1 || value[Marker.Length + PrefixLength] != '_')
            return false;
        prefix = value.Substring(Marker.Length, PrefixLength);
        secret = value[(Marker.Length + PrefixLength + 1)..];
        return prefix.All(char.IsAsciiLetterOrDigit);
    }
}

public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    CallerStateCache cache,
    CredentialFailureLimiter failures,
    ApiKeyUsage usage,
    RequestSignatures signatures,
    TimeProvider clock) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var presented = Request.Headers[ApiKeyFormat.HeaderName].ToString();
        if (presented.Length == 0)
            return AuthenticateResult.NoResult();
        // A key that signs its requests sends only its id; any other sends itself.
        var signed = ApiKeyFormat.TryParseId(presented, out var prefix);
        var secret = "";
        var wellFormed = signed || ApiKeyFormat.TryParse(presented, out prefix, out secret);
        ApiKeyState? key = null;
        if (!wellFormed || !cache.TryGetCachedApiKey(prefix, out key))
        {
            if (failures.Refuses(Context))
                return AuthenticateResult.Fail(CredentialFailureLimiter.RefusedBeforeLookup);
            if (wellFormed)
                key = await cache.GetApiKeyAsync(prefix, Context.RequestAborted);
        }
        if (!wellFormed)
            return Failed("malformed API key");
        if (key is null || !signed && !OpaqueTokens.HashEquals(secret, key.SecretHash))
            return Failed("unknown API key");
        if (!key.Active || key.ExpiresAt is { } expires && expires <= clock.GetUtcNow().UtcDateTime)
            return Failed("revoked or expired API key");
        if (signed != key.RequireSignature)
        {
            return SignatureFailed(signed
                ? "This API key does not sign its requests: send the whole key in X-API-Key."
                : $"This API key signs its requests: send its id {ApiKeyFormat.Id(prefix)} in X-API-Key with the signature headers, never the key itself.");
        }
        if (signed && await signatures.VerifyAsync(Context, key, Context.RequestAborted) is { } refusal)
            return SignatureFailed(refusal);
        await usage.RecordAsync(key.Id, Context.RequestAborted);
        var principal = CallerPrincipal.Create(key.UserId, key.EffectiveRole, null, key.Id, SchemeName);
        return AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName));
    }

    /// <summary>A signature problem is answered with its reason, so a client can tell a stale clock from a replay.</summary>
    private AuthenticateResult SignatureFailed(string detail)
    {
        Context.Items[SignatureRefusalKey] = detail;
        return Failed("bad request signature");
    }

    private static readonly object SignatureRefusalKey = new();

    private AuthenticateResult Failed(string reason)
    {
        failures.RecordFailure(Context);
        return AuthenticateResult.Fail(reason);
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        if (await CredentialFailureLimiter.TryAnswerRefusalAsync(Context))
            return;
        Response.Headers.WWWAuthenticate = $"ApiKey header=\"{ApiKeyFormat.HeaderName}\"";
        if (Context.Items[SignatureRefusalKey] is string detail)
        {
            await ProblemResponses.WriteAsync(Context, new ProblemDetails
            {
                Status = StatusCodes.Status401Unauthorized,
                Title = "Unauthorized",
                Detail = detail,
            });
            return;
        }
        Response.StatusCode = StatusCodes.Status401Unauthorized;
    }
}
