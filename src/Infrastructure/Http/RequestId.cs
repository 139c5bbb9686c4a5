using System.Buffers;
using TaskRunner.Infrastructure.Observability;

namespace TaskRunner.Infrastructure.Http;

/// <summary>
/// Every request has one id, taken from <c>X-Request-ID</c> when it is a sane token, else generated. It becomes
/// <see cref="HttpContext.TraceIdentifier"/>, so logs (every line logged during the request), problems and the response header all carry the same value.
/// </summary>
public static class RequestId
{
    public const string HeaderName = "X-Request-ID";
    private const int MaxLength = 128;
    private static readonly SearchValues<char> AllowedCharacters =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:");

    public static IApplicationBuilder UseRequestId(this IApplicationBuilder app)
    {
        var logger = app.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger("TaskRunner.Requests");
        return app.Use(async (context, next) =>
        {
            var incoming = context.Request.Headers[HeaderName].ToString();
            context.TraceIdentifier = IsSane(incoming) ? incoming : Guid.CreateVersion7().ToString("N");
            // Set when the response starts: the exception handler clears headers set earlier.
            context.Response.OnStarting(static state =>
            {
                var http = (HttpContext)state;
                http.Response.Headers[HeaderName] = http.TraceIdentifier;
                return Task.CompletedTask;
            }, context);
            // Every line logged while the request runs carries its id.
            using (logger.BeginRequestScope(context.TraceIdentifier))
                await next(context);
        });
    }

    public static bool IsSane(string value) =>
        value.Length is > 0 and <= MaxLength && !value.AsSpan().ContainsAnyExcept(AllowedCharacters);
}
