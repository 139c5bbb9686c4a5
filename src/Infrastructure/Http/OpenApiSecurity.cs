using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Infrastructure.Http;

/// <summary>
/// Declares the two ways to authenticate (a bearer JWT from /auth/login, or an API key in X-API-Key) and marks every
/// operation that requires authentication with both, so generated clients and the docs' "try it" send credentials.
/// </summary>
public static class OpenApiSecurity
{
    private const string Bearer = "bearer";
    private const string ApiKey = "api_key";

    public static OpenApiOptions AddSecuritySchemes(this OpenApiOptions options)
    {
        options.AddDocumentTransformer((document, _, _) =>
        {
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes[Bearer] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                BearerFormat = "JWT",
                Description = "Access token from POST /api/v1/auth/login or /auth/refresh.",
            };
            document.Components.SecuritySchemes[ApiKey] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.ApiKey,
                In = ParameterLocation.Header,
                Name = ApiKeyFormat.HeaderName,
                Description = "An API key from POST /api/v1/auth/api-keys.",
            };
            return Task.CompletedTask;
        });
        options.AddOperationTransformer((operation, context, _) =>
        {
            var requiresCaller = context.Description.ActionDescriptor.EndpointMetadata.OfType<IAuthorizeData>().Any();
            operation.Security ??= [];
            if (!requiresCaller)
            {
                // An empty requirement says "no credentials needed" outright, rather than leaving it unsaid.
                operation.Security.Add(new OpenApiSecurityRequirement());
                return Task.CompletedTask;
            }
            operation.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(Bearer, context.Document)] = [] });
            operation.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(ApiKey, context.Document)] = [] });
            return Task.CompletedTask;
        });
        return options;
    }
}
