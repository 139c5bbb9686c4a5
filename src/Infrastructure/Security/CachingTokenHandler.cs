using System.Collections.Concurrent;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace TaskRunner.Infrastructure.Security;

/// <summary>
/// Validating a JWT (base64, JSON, HMAC, claims) costs more than the rest of authentication, yet a signed token's
/// validity cannot change before it expires: a successful result is kept per token string, for at most its lifetime.
/// The session behind the token is still checked on every request (<see cref="AuthSetup"/>), so logout and revocation
/// stay immediate. Bounded: when full, the cache starts over.
/// </summary>
public sealed class CachingTokenHandler(TimeProvider clock) : JsonWebTokenHandler
{
    private const int MaxEntries = 10_000;
    private readonly ConcurrentDictionary<string, (TokenValidationResult Result, DateTime ValidTo)> validated = new(StringComparer.Ordinal);

    public override async Task<TokenValidationResult> ValidateTokenAsync(string token, TokenValidationParameters validationParameters)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        if (validated.TryGetValue(token, out var cached) && cached.ValidTo > now)
            return cached.Result;
        var result = await base.ValidateTokenAsync(token, validationParameters);
        if (result.IsValid && result.SecurityToken is { } securityToken)
        {
            if (validated.Count >= MaxEntries)
                validated.Clear();
            validated[token] = (result, securityToken.ValidTo);
        }
        return result;
    }
}
