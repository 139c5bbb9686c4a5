using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace TaskRunner.Infrastructure.Security;

/// <summary>
/// Validating a JWT (base64, JSON, HMAC, claims) costs more than the rest of authentication, yet a signed token's
/// validity cannot change before it expires: a successful result is kept per token string, for at most its lifetime.
/// The session behind the token is still checked on every request (<see cref="AuthSetup"/>), so logout and revocation
/// stay immediate. Only valid tokens are kept, and at most <see cref="MaxEntries"/> of them.
/// </summary>
public sealed class CachingTokenHandler(TimeProvider clock) : JsonWebTokenHandler
{
    private const int MaxEntries = 10_000;
    private readonly ExpiringCache<string, TokenValidationResult> validated = new(MaxEntries, clock);

    public override async Task<TokenValidationResult> ValidateTokenAsync(string token, TokenValidationParameters validationParameters)
    {
        if (validated.TryGet(token, out var cached))
            return cached;
        var result = await base.ValidateTokenAsync(token, validationParameters);
        if (result.IsValid && result.SecurityToken is { } securityToken)
            validated.Set(token, result, new DateTimeOffset(DateTime.SpecifyKind(securityToken.ValidTo, DateTimeKind.Utc)));
        return result;
    }
}
