using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace TaskRunner.Infrastructure.Http;

/// <summary>The problem results handlers return, so every slice words its errors the same way.</summary>
public static class Problems
{
    public static ProblemHttpResult Unauthorized(HttpContext http, string detail)
    {
        http.Response.Headers.WWWAuthenticate = "Bearer";
        return Create(StatusCodes.Status401Unauthorized, "Unauthorized", detail);
    }

    public static ProblemHttpResult Forbidden(string detail) => Create(StatusCodes.Status403Forbidden, "Forbidden", detail);

    public static ProblemHttpResult NotFound(string detail) => Create(StatusCodes.Status404NotFound, "Not Found", detail);

    public static ProblemHttpResult Conflict(string detail) => Create(StatusCodes.Status409Conflict, "Conflict", detail);

    public static ProblemHttpResult BadRequest(string detail) => Create(StatusCodes.Status400BadRequest, "Bad Request", detail);

    public static ProblemHttpResult ContentTooLarge(string detail) => Create(StatusCodes.Status413PayloadTooLarge, "Content Too Large", detail);

    public static ProblemHttpResult UnsupportedMediaType(string detail) =>
        Create(StatusCodes.Status415UnsupportedMediaType, "Unsupported Media Type", detail);

    public static ProblemHttpResult TooManyRequests(HttpContext http, TimeSpan retryAfter, string detail)
    {
        SetRetryAfter(http, retryAfter);
        return Create(StatusCodes.Status429TooManyRequests, "Too Many Requests", detail);
    }

    /// <summary>A 503: the service is busy or a dependency is away, and the request may be retried as it is.</summary>
    public static ProblemHttpResult ServiceUnavailable(HttpContext http, TimeSpan retryAfter, string detail)
    {
        SetRetryAfter(http, retryAfter);
        return Create(StatusCodes.Status503ServiceUnavailable, "Service Unavailable", detail);
    }

    private static void SetRetryAfter(HttpContext http, TimeSpan retryAfter) =>
        http.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds))
            .ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static ProblemHttpResult Create(int status, string title, string detail) =>
        TypedResults.Problem(new ProblemDetails { Status = status, Title = title, Detail = detail });
}

/// <summary>Collects every validation failure of a request, keyed by JSON path, and answers them all at once (422).</summary>
public sealed class ValidationErrors
{
    private readonly Dictionary<string, List<string>> errors = new(StringComparer.Ordinal);

    public bool IsEmpty => errors.Count == 0;

    /// <summary>How many fields have errors so far.</summary>
    public int Count => errors.Count;

    public void Add(string field, string message)
    {
        if (!errors.TryGetValue(field, out var messages))
            errors[field] = messages = [];
        messages.Add(message);
    }

    /// <summary>Adds "is required" or a length error; returns true when the value is present and within bounds.</summary>
    public bool RequireLength(string field, string? value, int min, int max)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            Add(field, "is required");
            return false;
        }
        if (value.Length < min || value.Length > max)
        {
            Add(field, min == max ? $"must be {min} characters" : $"must be between {min} and {max} characters");
            return false;
        }
        if (value.Contains('\0', StringComparison.Ordinal))
        {
            Add(field, "must not contain NUL characters");
            return false;
        }
        return true;
    }

    /// <summary>Every error as (field, message), so one check's findings can be passed on under other names.</summary>
    public IEnumerable<(string Field, string Message)> Entries => errors.SelectMany(pair => pair.Value.Select(message => (pair.Key, message)));

    /// <summary>Every error on one line (<c>output.a: must …</c>), for a record outside HTTP such as a refused webhook answer.</summary>
    public string Describe() => string.Join("; ", errors.Select(pair => pair.Key + ": " + string.Join(", ", pair.Value)));

    /// <summary>Malformed query parameters (a bad limit, date or cursor) are a 400 that names each parameter, unlike a body's 422.</summary>
    public ProblemHttpResult ToQueryProblem() => TypedResults.Problem(
        new HttpValidationProblemDetails(errors.ToDictionary(pair => pair.Key, pair => pair.Value.ToArray(), StringComparer.Ordinal))
        {
            Status = StatusCodes.Status400BadRequest,
            Title = "Malformed Query",
            Detail = "One or more query parameters are invalid; see errors.",
        });

    public ProblemHttpResult ToProblem() => TypedResults.Problem(
        new HttpValidationProblemDetails(errors.ToDictionary(pair => pair.Key, pair => pair.Value.ToArray(), StringComparer.Ordinal))
        {
            Status = StatusCodes.Status422UnprocessableEntity,
            Title = "Validation Failed",
            Detail = "One or more fields are invalid; see errors.",
        });
}
