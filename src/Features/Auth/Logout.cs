using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Auth;

/// <summary>POST /auth/logout: ends the session the caller's token belongs to.</summary>
public static class Logout
{
    public static async Task<Results<NoContent, ProblemHttpResult>> Handle(
        Caller caller, HttpContext http, NpgsqlDataSource dataSource, CallerStateCache cache, CancellationToken cancellationToken)
    {
        if (caller.SessionId is not { } sessionId)
            return Problems.BadRequest("This request is authenticated with an API key, which has no session; revoke the key instead.");
        await Sessions.RevokeAsync(sessionId, "logout", caller, http, dataSource, cache, cancellationToken);
        return TypedResults.NoContent();
    }
}
