namespace TaskRunner.Features.ApiKeys;

public static class ApiKeysEndpoints
{
    public static IEndpointRouteBuilder MapApiKeys(this IEndpointRouteBuilder api)
    {
        var keys = api.MapGroup("/auth/api-keys")
            .WithTags("API keys")
            .RequireAuthorization()
            .ProducesProblem(StatusCodes.Status401Unauthorized);

        keys.MapPost("/", ApiKeys.Create)
            .WithName("CreateApiKey")
            .WithSummary("Create an API key (shown once in `key`); its role defaults to, and may not exceed, the caller's")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        keys.MapGet("/", ApiKeys.List)
            .WithName("ListApiKeys")
            .WithSummary("The caller's API keys, without secrets");
        keys.MapDelete("/{id:guid}", ApiKeys.Revoke)
            .WithName("RevokeApiKey")
            .WithSummary("Revoke an API key; it stops working on every node at once")
            .ProducesProblem(StatusCodes.Status404NotFound);
        return api;
    }
}
