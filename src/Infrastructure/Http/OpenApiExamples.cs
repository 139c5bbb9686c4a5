using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.Timeouts;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.OpenApi;

namespace TaskRunner.Infrastructure.Http;

/// <summary>
/// The reference's examples and the problem responses every API operation can meet.
/// <list type="bullet">
/// <item>Every route under /api/v1 is rate limited, so it declares 429 (with <c>Retry-After</c> and the rate-limit fields),
/// and 503 (the database unreachable or the node draining; and, where the route has a time limit, <c>request_timeout</c>).
/// Both come from the endpoint's metadata, so a new route declares them without doing anything.</item>
/// <item>Examples: a JSON body or answer shows the example of its schema from <c>ApiExamples.json</c> (beside this file,
/// keyed by the schema's component name: <c>TaskResponse</c>, <c>CreateTaskRequest</c>); a list shows its item's example in
/// the list envelope; a problem shows a problem of its status. Another media type (an export's NDJSON or CSV, a YAML body,
/// a form) shows the entry keyed <c>"OperationId media/type"</c>. A body or answer whose example is missing has none, and
/// ApiDocumentationTests names it: a new request or response type needs its entry in ApiExamples.json.</item>
/// </list>
/// </summary>
public static class OpenApiExamples
{
    /// <summary>The embedded <c>ApiExamples.json</c> (TaskRunner.csproj).</summary>
    private const string ResourceName = "TaskRunner.ApiExamples.json";

    private const string ListPrefix = "ListResponseOf";
    private const string ProblemMediaType = "application/problem+json";

    private static readonly Lazy<JsonObject> Examples = new(Load);

    public static OpenApiOptions AddExamplesAndCommonProblems(this OpenApiOptions options)
    {
        options.AddOperationTransformer((operation, context, _) =>
        {
            var metadata = context.Description.ActionDescriptor.EndpointMetadata;
            if (!metadata.OfType<EnableRateLimitingAttribute>().Any())
                return Task.CompletedTask;
            var timeLimit = metadata.OfType<DisableRequestTimeoutAttribute>().Any()
                ? null
                : metadata.OfType<RequestTimeoutAttribute>().LastOrDefault()?.PolicyName;
            var path = "/" + context.Description.RelativePath;
            operation.Responses ??= [];
            operation.Responses[Status(StatusCodes.Status429TooManyRequests)] = Problem(context, ProblemExample(StatusCodes.Status429TooManyRequests, path, null),
                "Rate limited: the caller's token bucket for this route's policy is empty (or its address is refused for a while "
                + "after repeated credential failures). Retry after the seconds in `Retry-After`.");
            var unavailable = ProblemExample(StatusCodes.Status503ServiceUnavailable, path, null);
            if (timeLimit is null)
            {
                unavailable["detail"] = "The service is not available now; retry after the seconds in Retry-After.";
                unavailable.Remove("code");
            }
            operation.Responses[Status(StatusCodes.Status503ServiceUnavailable)] = Problem(context, unavailable,
                (timeLimit is null ? "The " : $"The request ran past the `{timeLimit}` time limit (`code: request_timeout`; its database "
                    + "work was cancelled), or the ")
                + "service cannot answer now: the database is unreachable, this node is shutting down, or it is overloaded. Retry "
                + "after the seconds in `Retry-After`.");
            return Task.CompletedTask;
        });
        options.AddDocumentTransformer((document, _, _) =>
        {
            DescribeProblemMembers(document);
            foreach (var (path, item) in Each(document.Paths))
            {
                foreach (var operation in Each(item.Operations?.Values))
                {
                    foreach (var (mediaType, media) in Each(operation.RequestBody?.Content))
                        media.Example ??= ExampleFor(operation.OperationId, mediaType, media.Schema);
                    foreach (var (status, response) in Each(operation.Responses))
                    {
                        foreach (var (mediaType, media) in Each(response.Content))
                        {
                            media.Example ??= mediaType == ProblemMediaType && int.TryParse(status, CultureInfo.InvariantCulture, out var code)
                                ? ProblemExample(code, path, media.Schema)
                                : ExampleFor(operation.OperationId, mediaType, media.Schema);
                        }
                    }
                }
            }
            return Task.CompletedTask;
        });
        return options;
    }

    /// <summary>The example of a body or answer, or null when ApiExamples.json has none for it.</summary>
    private static JsonNode? ExampleFor(string? operationId, string mediaType, IOpenApiSchema? schema)
    {
        var examples = Examples.Value;
        if (examples[$"{operationId} {mediaType}"] is { } byOperation)
            return byOperation.DeepClone();
        if (schema is not OpenApiSchemaReference { Reference.Id: { } name })
            return null;
        if (examples[name] is { } bySchema)
            return bySchema.DeepClone();
        if (name.StartsWith(ListPrefix, StringComparison.Ordinal) && examples[name[ListPrefix.Length..]] is { } item)
            return new JsonObject { ["data"] = new JsonArray(item.DeepClone()), ["next_cursor"] = "djEuZXlKemIzSjBJam9pTFdOeVpXRjBaV1JmWVhRaWZR", ["has_more"] = true };
        return null;
    }

    /// <summary>A problem of the status as the service writes it; a validation problem also names a failing field.</summary>
    private static JsonObject ProblemExample(int status, string path, IOpenApiSchema? schema)
    {
        var problem = new JsonObject
        {
            ["type"] = status == StatusCodes.Status429TooManyRequests ? "https://tools.ietf.org/html/rfc6585#section-4" : "https://tools.ietf.org/html/rfc9110",
            ["title"] = ReasonPhrases.GetReasonPhrase(status),
            ["status"] = status,
            ["detail"] = status switch
            {
                StatusCodes.Status400BadRequest => "The query is malformed: see errors.",
                StatusCodes.Status401Unauthorized => "Authentication is required: send a bearer token or an API key.",
                StatusCodes.Status403Forbidden => "You may read this resource but not change it.",
                StatusCodes.Status404NotFound => "No such resource.",
                StatusCodes.Status409Conflict => "The resource is not in a state that allows this.",
                StatusCodes.Status412PreconditionFailed => "If-Match does not match the current ETag.",
                StatusCodes.Status422UnprocessableEntity => "The request is invalid: see errors.",
                StatusCodes.Status429TooManyRequests => "Rate limit exceeded; retry after 3 seconds.",
                StatusCodes.Status503ServiceUnavailable => "The request did not finish within its time limit (30000 ms) and was stopped.",
                _ => ReasonPhrases.GetReasonPhrase(status),
            },
            ["instance"] = path,
            ["request_id"] = "01a2529f0ff67b5e8417f8dfb2c8557f",
        };
        if (status == StatusCodes.Status503ServiceUnavailable)
            problem["code"] = "request_timeout";
        if (schema is OpenApiSchemaReference { Reference.Id: "HttpValidationProblemDetails" })
            problem["errors"] = new JsonObject { [status == StatusCodes.Status400BadRequest ? "limit" : "title"] = new JsonArray("is required") };
        return problem;
    }

    /// <summary>Problems carry members beyond RFC 9457's five (ProblemResponses.Complete): the schemas say so.</summary>
    private static void DescribeProblemMembers(OpenApiDocument document)
    {
        foreach (var name in (string[])["ProblemDetails", "HttpValidationProblemDetails"])
        {
            if (document.Components?.Schemas?.TryGetValue(name, out var schema) != true || schema is not OpenApiSchema problem)
                continue;
            problem.Properties ??= new Dictionary<string, IOpenApiSchema>();
            problem.Properties["request_id"] = Text("The request's id, also in the X-Request-ID header: quote it when reporting a problem.");
            problem.Properties["trace_id"] = Text("The W3C trace id, when the request was traced.");
            problem.Properties["code"] = Text("A machine-readable reason where one exists (`request_timeout`).");
            // Some problems carry more (a conflict names the tasks in the way): extensions are allowed.
            problem.AdditionalProperties = null;
            problem.AdditionalPropertiesAllowed = true;
        }
    }

    private static OpenApiSchema Text(string description) => new() { Type = JsonSchemaType.String, Description = description };

    private static string Status(int status) => status.ToString(CultureInfo.InvariantCulture);

    /// <summary>A problem response that tells the client when to retry.</summary>
    private static OpenApiResponse Problem(OpenApiOperationTransformerContext context, JsonObject example, string description) => new()
    {
        Description = description,
        Headers = new Dictionary<string, IOpenApiHeader>
        {
            ["Retry-After"] = new OpenApiHeader { Description = "Seconds to wait before retrying.", Schema = new OpenApiSchema { Type = JsonSchemaType.Integer } },
        },
        Content = new Dictionary<string, OpenApiMediaType>
        {
            [ProblemMediaType] = new() { Schema = new OpenApiSchemaReference("ProblemDetails", context.Document), Example = example },
        },
    };

    private static IEnumerable<T> Each<T>(IEnumerable<T>? items) => items ?? [];

    private static JsonObject Load()
    {
        using var stream = typeof(OpenApiExamples).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"the embedded resource {ResourceName} is missing");
        return JsonNode.Parse(stream)!.AsObject();
    }
}
