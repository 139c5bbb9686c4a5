using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using TaskRunner.Infrastructure.Configuration;

namespace TaskRunner.Infrastructure.Security;

/// <summary>
/// Short-lived JWT access tokens (HS256). Signed with the active key; verified with every configured key, found by
/// <c>kid</c>, so keys rotate without logging anyone out: add the new key, make it active, drop the old one a token
/// lifetime later.
/// </summary>
public sealed class AccessTokens(IOptions<AuthOptions> options, TimeProvider clock)
{
    public const string SubjectClaim = "sub";
    public const string SessionClaim = "sid";

    private readonly JsonWebTokenHandler handler = new() { SetDefaultTimesOnTokenCreation = false };

    public TimeSpan Lifetime => TimeSpan.FromMinutes(options.Value.AccessTokenMinutes);

    public string Issue(Guid userId, Guid sessionId)
    {
        var settings = options.Value;
        var now = clock.GetUtcNow().UtcDateTime;
        var key = SigningKeys(settings).Single(key => key.KeyId == settings.JwtActiveKeyId);
        return handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = settings.JwtIssuer,
            Audience = settings.JwtAudience,
            IssuedAt = now,
            NotBefore = now,
            Expires = now + Lifetime,
            Claims = new Dictionary<string, object>
            {
                [SubjectClaim] = userId.ToString(),
                [SessionClaim] = sessionId.ToString(),
            },
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.HmacSha256),
        });
    }

    public static TokenValidationParameters ValidationParameters(AuthOptions settings) => new()
    {
        ValidIssuer = settings.JwtIssuer,
        ValidAudience = settings.JwtAudience,
        IssuerSigningKeys = SigningKeys(settings),
        ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
        ValidateIssuerSigningKey = true,
        RequireExpirationTime = true,
        RequireSignedTokens = true,
        ClockSkew = TimeSpan.FromSeconds(30),
        NameClaimType = SubjectClaim,
    };

    private static List<SymmetricSecurityKey> SigningKeys(AuthOptions settings) =>
        settings.JwtSigningKeys.Select(pair => new SymmetricSecurityKey(Convert.FromBase64String(pair.Value)) { KeyId = pair.Key }).ToList();

    /// <summary>For tests and tools: a fresh random key in the configuration's format.</summary>
    public static string NewKey() => Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
}
