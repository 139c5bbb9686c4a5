using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using Npgsql;
using TaskRunner.Infrastructure.Audit;

namespace TaskRunner.Infrastructure.Security;

/// <summary>
/// Rejected credentials (a forged, expired or malformed token, a revoked key) and forbidden attempts (a member calling an
/// admin endpoint) are security events: each is written to the audit log before the usual 401 or 403 is answered.
/// Anonymous requests without credentials are not: that is every unauthenticated probe, and says nothing. Nor are credentials
/// refused before their lookup (<see cref="CredentialFailureLimiter.RefusedBeforeLookup"/>): writing a row for each
/// would be the per-request database work that refusal exists to prevent; the failures that spent the budget are audited.
/// </summary>
public sealed class AuditedAuthorizationResults(NpgsqlDataSource dataSource) : IAuthorizationMiddlewareResultHandler
{
    private readonly AuthorizationMiddlewareResultHandler standard = new();

    public async Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult authorizeResult)
    {
        // Handlers cache their result per request, so asking again costs nothing and tells why credentials failed.
        var rejected = authorizeResult.Challenged ? (await context.AuthenticateAsync()).Failure : null;
        if (rejected?.Message == CredentialFailureLimiter.RefusedBeforeLookup)
            rejected = null;
        var entry = (authorizeResult.Challenged, authorizeResult.Forbidden, rejected) switch
        {
            (true, _, { } failure) => Entry(context, "auth.credentials_rejected", null, failure.Message),
            (_, true, _) => Entry(context, "auth.forbidden", Caller.From(context.User), null),
            _ => null,
        };
        if (entry is not null)
        {
            try
            {
                await using var connection = await dataSource.OpenConnectionAsync(context.RequestAborted);
                await AuditWriter.WriteAsync(connection, null, entry, context.RequestAborted);
            }
            catch (Exception e) when (Database.PgErrors.IsUnavailable(e))
            {
                // The answer is still 401/403; an unreachable database must not turn it into a 503.
            }
        }
        if (authorizeResult.Forbidden && SecondFactorEnrolment.IsPending(context.User))
        {
            await Http.ProblemResponses.WriteAsync(context, new Microsoft.AspNetCore.Mvc.ProblemDetails
            {
                Status = StatusCodes.Status403Forbidden,
                Title = "Forbidden",
                Detail = SecondFactorEnrolment.Detail,
            });
            return;
        }
        await standard.HandleAsync(next, context, policy, authorizeResult);
    }

    private static AuditEntry Entry(HttpContext context, string action, Caller? caller, string? reason)
    {
        var endpoint = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? context.Request.Path.Value ?? "";
        var diff = new JsonObject { ["method"] = context.Request.Method, ["endpoint"] = endpoint };
        if (reason is not null)
            diff["reason"] = reason;
        return new AuditEntry(action, "endpoint", null, AuditActor.From(context, caller), diff);
    }
}
