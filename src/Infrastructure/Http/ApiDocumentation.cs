using Microsoft.OpenApi;
using Scalar.AspNetCore;

namespace TaskRunner.Infrastructure.Http;

/// <summary>The OpenAPI document at /openapi/v1.json and the interactive reference at /api/docs.</summary>
public static class ApiDocumentation
{
    private const string Description = """
        TaskRunner stores projects and tasks and runs DAGs of tasks through their lifecycle.

        Conventions: JSON bodies and query parameters are snake_case; timestamps are RFC 3339 UTC; ids are UUIDv7.
        Unknown JSON properties are rejected with 422. Every error is an RFC 9457 problem (`application/problem+json`)
        carrying `request_id` (also in the `X-Request-ID` response header) and, when tracing, `trace_id`; validation
        problems list every failing field in `errors`, keyed by its JSON path. A 503 carries `Retry-After`.
        Lists and every GET of one resource take `fields=id,title`: only those fields are returned (unknown name: 400).
        In the schemas, a request's `required` lists what its validation demands (its other fields may be left out or
        sent as null), and a response's what it always carries: a response leaves out fields that are null, except
        `next_cursor`, and with `fields` only the fields asked for.

        Authentication: `Authorization: Bearer <access_token>` (15-minute JWT from /auth/login, renewed with the
        one-time refresh token at /auth/refresh) or `X-API-Key: <key>`. Resources the caller may not see answer 404.
        A client address whose credentials keep failing (unknown or wrong API keys, forged or expired tokens) is refused
        for a while: a route that needs authentication then answers 429 with `Retry-After` instead of 401.

        Rate limits: every /api/v1 route is limited by a token bucket per API key, else per user, else per client address;
        login attempts also per address and per address + email, registrations per address. Responses to limited routes carry the fields of the IETF
        draft-ietf-httpapi-ratelimit-headers (structured-field form, draft 08 and later): `RateLimit-Policy: "api";q=120;w=12`
        (a burst of q requests, refilled in w seconds) and `RateLimit: "api";r=57;t=3` (r requests left, the bucket full again
        in t seconds). Past the limit the answer is a 429 problem with `Retry-After` in seconds.

        Versioning: within /api/v1 the API only grows (new operations, optional fields, response fields, problem `code`s);
        clients ignore response fields and headers they do not know. A breaking change ships only as /api/v2. An operation
        that will go away is marked `deprecated` here and keeps working for at least 180 days, answering with `Deprecation`
        (RFC 9745), `Sunset` (RFC 8594) and a `Link` to this reference. The whole policy is docs/versioning.md in the
        repository.
        """;

    public static IServiceCollection AddApiDocumentation(this IServiceCollection services)
    {
        services.AddOpenApi("v1", options => options
            .AddSecuritySchemes()
            .AddExactContract()
            .AddExamplesAndCommonProblems()
            .AddDeprecations()
            .AddDocumentTransformer((document, _, _) =>
            {
                document.Info = new OpenApiInfo
                {
                    Title = "TaskRunner API",
                    Version = Observability.ServiceVersion.Current,
                    Description = Description,
                };
                return Task.CompletedTask;
            }));
        return services;
    }

    public static IEndpointRouteBuilder MapApiDocumentation(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapOpenApi("/openapi/{documentName}.json");
        endpoints.MapScalarApiReference("/api/docs", options => options
            .WithTitle("TaskRunner API")
            .WithOpenApiRoutePattern("/openapi/{documentName}.json"));
        return endpoints;
    }
}
