namespace TaskRunner.Features.ApiKeys;

public static class ApiKeysEndpoints
{
    public static IEndpointRouteBuilder MapApiKeys(this IEndpointRouteBuilder api)
    {
        var keys = api.MapGroup("/auth/api-keys")
            .WithTags("API keys")
            .RequireAuthorization()
            .ProducesProblem(StatusCodes.Status401Unauthorized);

        keys.MapPost("/", CreateApiKey.Handle)
            .WithName("CreateApiKey")
            .WithSummary("Create an API key")
            .WithDescription("""
                The key is shown once, in `key`. Its role defaults to, and may not exceed, the caller's. With
                `require_signature: true` the key never travels: each request names it by `key_id` in `X-API-Key` and
                signs the method, path, query, body hash, a timestamp and a nonce with `signing_key` (HMAC-SHA256, headers
                `X-Signature`, `X-Signature-Timestamp`, `X-Signature-Nonce`; see docs/security.md). A stale timestamp, a
                reused nonce, a changed body or query, or the key sent itself is a 401 problem whose detail says which.
                """)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        keys.MapGet("/", ListApiKeys.Handle)
            .WithName("ListApiKeys")
            .WithSummary("List the caller's API keys")
            .WithDescription("""
                The caller's own keys, revoked and expired ones included, never with their secrets. A list like every
                other: `limit`, `cursor`, `fields`, and `sort` by `-created_at` (the default) or `name`.
                """)
            .ProducesProblem(StatusCodes.Status400BadRequest);
        keys.MapDelete("/{id:guid}", RevokeApiKey.Handle)
            .WithName("RevokeApiKey")
            .WithSummary("Revoke an API key")
            .WithDescription("Revoke an API key; it stops working on every node at once")
            .ProducesProblem(StatusCodes.Status404NotFound);
        return api;
    }
}
