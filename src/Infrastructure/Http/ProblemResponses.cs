using System.Diagnostics;
using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;
using TaskRunner.Infrastructure.Database;

namespace TaskRunner.Infrastructure.Http;

/// <summary>
/// Every error leaves as RFC 9457 <c>application/problem+json</c> carrying <c>request_id</c> and <c>trace_id</c>: handler
/// results, bodies rejected by the framework, unmatched routes and methods, and unhandled exceptions alike.
/// </summary>
public static partial class ProblemResponses
{
    /// <summary>Seconds a client should wait before retrying a 503.</summary>
    public const int RetryAfterSeconds = 5;

    public static IServiceCollection AddProblemResponses(this IServiceCollection services)
    {
        services.AddProblemDetails(options => options.CustomizeProblemDetails = static context => Complete(context.HttpContext, context.ProblemDetails));
        services.AddExceptionHandler<ExceptionProblems>();
        return services;
    }

    /// <summary>
    /// Adds what every problem carries. The problem details service does it for every problem it writes; a problem the
    /// client's <c>Accept</c> does not admit (a 406) is written without the service, so its answer calls this first.
    /// </summary>
    public static ProblemDetails Complete(HttpContext http, ProblemDetails problem)
    {
        problem.Type ??= TypeOf(problem.Status);
        problem.Instance ??= http.Request.Path;
        problem.Extensions.Remove("traceId");
        problem.Extensions["request_id"] = http.TraceIdentifier;
        if (Activity.Current is { } activity)
            problem.Extensions["trace_id"] = activity.TraceId.ToHexString();
        return problem;
    }

    /// <summary>
    /// The types ASP.NET Core has no default for; it fills the others (400 … 504) with their RFC 9110 sections. Every
    /// problem should name its type, so clients can tell a rate limit from a body too large without parsing the title.
    /// </summary>
    private static string? TypeOf(int? status) => status switch
    {
        StatusCodes.Status413PayloadTooLarge => "https://tools.ietf.org/html/rfc9110#section-15.5.14",
        StatusCodes.Status429TooManyRequests => "https://tools.ietf.org/html/rfc6585#section-4",
        _ => null,
    };

    public static IApplicationBuilder UseProblemResponses(this IApplicationBuilder app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages(static async statusContext =>
        {
            var http = statusContext.HttpContext;
            var detail = http.Response.StatusCode switch
            {
                StatusCodes.Status404NotFound => $"Nothing is found at {http.Request.Path}.",
                StatusCodes.Status405MethodNotAllowed => $"{http.Request.Method} is not allowed on {http.Request.Path}.",
                _ => null,
            };
            await WriteAsync(http, new ProblemDetails { Status = http.Response.StatusCode, Detail = detail });
        });
        return app;
    }

    public static ValueTask<bool> WriteAsync(HttpContext http, ProblemDetails problem, Exception? exception = null)
    {
        http.Response.StatusCode = problem.Status ?? StatusCodes.Status500InternalServerError;
        return http.RequestServices.GetRequiredService<IProblemDetailsService>()
            .TryWriteAsync(new ProblemDetailsContext { HttpContext = http, ProblemDetails = problem, Exception = exception });
    }

    /// <summary>STJ paths (<c>$.tasks[3].depends_on[0]</c>) as the field paths of API.md (<c>tasks[3].depends_on[0]</c>).</summary>
    public static string FieldPath(string? jsonPath) => jsonPath switch
    {
        null or "" or "$" => "body",
        _ when jsonPath.StartsWith("$.", StringComparison.Ordinal) => jsonPath[2..],
        _ when jsonPath.StartsWith('$') => jsonPath[1..],
        _ => jsonPath,
    };

    /// <summary>Maps exceptions to problems; only the last case is a 500, and it never shows internals.</summary>
    private sealed partial class ExceptionProblems(ILogger<ExceptionProblems> logger) : IExceptionHandler
    {
        public async ValueTask<bool> TryHandleAsync(HttpContext http, Exception exception, CancellationToken cancellationToken)
        {
            if (http.RequestAborted.IsCancellationRequested && exception is OperationCanceledException)
            {
                // The client went away; there is nobody to answer. 499 keeps it out of the 5xx error rate.
                http.Response.StatusCode = 499;
                return true;
            }

            var problem = exception switch
            {
                BadHttpRequestException { InnerException: JsonException json } => FromJson(json),
                BadHttpRequestException bad => FromBadRequest(bad),
                _ when PgErrors.IsUnavailable(exception) => DatabaseUnavailable(http, exception),
                Npgsql.PostgresException { SqlState: PgErrors.ForeignKeyViolation, ConstraintName: PgErrors.ActionTemplateReference } postgres =>
                    new HttpValidationProblemDetails(new Dictionary<string, string[]> { ["actions"] = [postgres.MessageText] })
                    {
                        Status = StatusCodes.Status422UnprocessableEntity,
                        Title = "Validation Failed",
                        Detail = "One or more fields are invalid; see errors.",
                    },
                // The schema's guard behind the slices' own checks: a write that would join projects by an edge is a conflict.
                Npgsql.PostgresException { SqlState: PgErrors.CheckViolation, ConstraintName: PgErrors.EdgeWithinProject } => new ProblemDetails
                {
                    Status = StatusCodes.Status409Conflict,
                    Title = "Conflict",
                    Detail = "Dependencies never join tasks of different projects; this change would make one that does.",
                },
                _ => Unexpected(exception),
            };
            return await WriteAsync(http, problem, exception);
        }

        private ProblemDetails DatabaseUnavailable(HttpContext http, Exception exception)
        {
            LogDatabaseUnavailable(logger, exception.Message);
            http.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return new ProblemDetails
            {
                Status = StatusCodes.Status503ServiceUnavailable,
                Title = "Service Unavailable",
                Detail = "The database is unavailable or busy. Retry after the number of seconds in Retry-After.",
            };
        }

        private ProblemDetails Unexpected(Exception exception)
        {
            LogUnhandled(logger, exception);
            return new ProblemDetails
            {
                Status = StatusCodes.Status500InternalServerError,
                Title = "Internal Server Error",
                Detail = "An unexpected error occurred. Quote the request_id when reporting it.",
            };
        }

        private static ProblemDetails FromBadRequest(BadHttpRequestException bad) => new()
        {
            Status = bad.StatusCode,
            Detail = bad.StatusCode switch
            {
                StatusCodes.Status413PayloadTooLarge => "The request body is larger than this server accepts.",
                StatusCodes.Status415UnsupportedMediaType => "Send the body as application/json.",
                StatusCodes.Status400BadRequest when bad.Message.Contains("no body was provided", StringComparison.Ordinal) =>
                    "A JSON body is required.",
                _ => bad.Message,
            },
        };

        private static HttpValidationProblemDetails FromJson(JsonException json)
        {
            if (IsUnknownProperty(json.Message))
            {
                // For an unmapped property System.Text.Json's path already ends with the property's name.
                var field = FieldPath(json.Path);
                return new HttpValidationProblemDetails(new Dictionary<string, string[]> { [field] = ["is not a known property"] })
                {
                    Status = StatusCodes.Status422UnprocessableEntity,
                    Title = "Validation Failed",
                    Detail = $"The request body has a property '{field}' that this operation does not accept.",
                };
            }

            var path = FieldPath(json.Path);
            // The reader wraps its own (syntax) exception; type mismatches come without one or with a conversion error.
            var syntaxError = json.InnerException is JsonException;
            var message = syntaxError ? "is not valid JSON" : "has the wrong type for this field";
            return new HttpValidationProblemDetails(new Dictionary<string, string[]> { [path] = [message] })
            {
                Status = StatusCodes.Status400BadRequest,
                Title = "Malformed Request Body",
                Detail = syntaxError
                    ? $"The request body is not valid JSON (line {json.LineNumber + 1}, byte {json.BytePositionInLine + 1})."
                    : $"The value at '{path}' has the wrong type.",
            };
        }

        /// <summary>
        /// System.Text.Json reports an unmapped property only through its message. The AOT binary is built with
        /// UseSystemResourceKeys, where the message is the resource key and its arguments ("UnmappedJsonProperty, x, T").
        /// </summary>
        private static bool IsUnknownProperty(string message) =>
            message.StartsWith("UnmappedJsonProperty", StringComparison.Ordinal)
            || (message.StartsWith("The JSON property '", StringComparison.Ordinal)
                && message.Contains("' could not be mapped", StringComparison.Ordinal));

        [LoggerMessage(Level = LogLevel.Warning, Message = "Database unavailable: {Reason}")]
        private static partial void LogDatabaseUnavailable(ILogger logger, string reason);

        [LoggerMessage(Level = LogLevel.Error, Message = "Unhandled exception")]
        private static partial void LogUnhandled(ILogger logger, Exception exception);
    }
}
