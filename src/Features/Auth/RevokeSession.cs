using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Auth;

/// <summary>DELETE /auth/sessions/{id}: ends one of the caller's sessions.</summary>
public static class RevokeSession
{
    public static async Task<Results<NoContent, ProblemHttpResult>> Handle(
        Guid id, Caller caller, HttpContext http, NpgsqlDataSource dataSource, CallerStateCache cache, CancellationToken cancellationToken) =>
        await Sessions.RevokeAsync(id, "revoked", caller, http, dataSource, cache, cancellationToken)
            ? TypedResults.NoContent()
            : Problems.NotFound("No such session.");
}
