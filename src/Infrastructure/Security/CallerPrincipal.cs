using System.Security.Claims;

namespace TaskRunner.Infrastructure.Security;

/// <summary>The one shape of an authenticated principal, whichever scheme authenticated it (see <see cref="Caller"/>).</summary>
public static class CallerPrincipal
{
    public static ClaimsPrincipal Create(Guid userId, string role, Guid? sessionId, Guid? apiKeyId, string scheme, bool secondFactorPending = false)
    {
        var claims = new List<Claim>
        {
            new(CallerClaims.UserId, userId.ToString()),
            new(CallerClaims.Role, role),
        };
        if (sessionId is { } session)
            claims.Add(new Claim(CallerClaims.SessionId, session.ToString()));
        if (apiKeyId is { } key)
            claims.Add(new Claim(CallerClaims.ApiKeyId, key.ToString()));
        if (secondFactorPending)
            claims.Add(new Claim(CallerClaims.SecondFactorPending, "true"));
        return new ClaimsPrincipal(new ClaimsIdentity(claims, scheme, CallerClaims.UserId, CallerClaims.Role));
    }
}
