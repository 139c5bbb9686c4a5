using System.Security.Claims;

namespace TaskRunner.Infrastructure.Security;

/// <summary>Global roles, from most to least powerful.</summary>
public static class Roles
{
    public const string Admin = "admin";
    public const string Member = "member";
    public const string Viewer = "viewer";

    public static readonly string[] All = [Admin, Member, Viewer];

    /// <summary>Higher is more powerful; an unknown role ranks below viewer.</summary>
    public static int Rank(string role) => role switch
    {
        Admin => 3,
        Member => 2,
        Viewer => 1,
        _ => 0,
    };
}

/// <summary>The claims every authenticated principal carries, whether it came from a JWT or an API key.</summary>
public static class CallerClaims
{
    public const string UserId = ClaimTypes.NameIdentifier;
    public const string Role = ClaimTypes.Role;
    public const string SessionId = "sid";
    public const string ApiKeyId = "api_key_id";

    /// <summary>Present while the session's user must still enrol a required second factor (see <see cref="SecondFactorEnrolment"/>).</summary>
    public const string SecondFactorPending = "second_factor_pending";
}

/// <summary>
/// Who is calling, resolved once per request from the authenticated principal. Handlers take it as a parameter; it is
/// the only way slices learn the caller's identity, role, and whether it acts through an API key or a session.
/// </summary>
public sealed record Caller(Guid UserId, string Role, Guid? SessionId, Guid? ApiKeyId)
{
    public bool IsAdmin => Role == Roles.Admin;

    /// <summary>Viewers read; members and admins may also write.</summary>
    public bool CanWrite => Roles.Rank(Role) >= Roles.Rank(Roles.Member);

    /// <summary>Lets handlers take <c>Caller caller</c> as a parameter on routes that require authentication.</summary>
    public static ValueTask<Caller?> BindAsync(HttpContext context) => ValueTask.FromResult(From(context.User));

    public static Caller? From(ClaimsPrincipal principal)
    {
        if (principal.Identity?.IsAuthenticated != true
            || !Guid.TryParse(principal.FindFirstValue(CallerClaims.UserId), out var userId))
            return null;
        return new Caller(
            userId,
            principal.FindFirstValue(CallerClaims.Role) ?? Roles.Viewer,
            Guid.TryParse(principal.FindFirstValue(CallerClaims.SessionId), out var session) ? session : null,
            Guid.TryParse(principal.FindFirstValue(CallerClaims.ApiKeyId), out var key) ? key : null);
    }
}
