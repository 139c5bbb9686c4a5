namespace TaskRunner.Infrastructure.Http;

/// <summary>Headers that make a JSON API safe to expose: nothing may sniff, frame or embed its answers.</summary>
public static class SecurityHeaders
{
    /// <summary>The interactive reference is an HTML page with its own scripts and styles; everything else is data.</summary>
    private const string DocsPath = "/api/docs";
    private const string ApiPolicy = "default-src 'none'; frame-ancestors 'none'";

    /// <summary>The dashboard: its own scripts, styles and API only; no inline script or style, no plugin, no framing.</summary>
    private const string AppPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
    private const string DocsPolicy =
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        + "font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

    public static IApplicationBuilder UseSecurityHeaders(this IApplicationBuilder app) =>
        app.Use(static (context, next) =>
        {
            // Set when the response starts: the exception handler clears headers set earlier.
            context.Response.OnStarting(Apply, context);
            return next(context);
        });

    private static Task Apply(object state)
    {
        var context = (HttpContext)state;
        var headers = context.Response.Headers;
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        headers["Referrer-Policy"] = "no-referrer";
        headers["Cross-Origin-Opener-Policy"] = "same-origin";
        headers["Cross-Origin-Resource-Policy"] = "same-origin";
        var path = context.Request.Path;
        headers.ContentSecurityPolicy = path.StartsWithSegments(DocsPath) ? DocsPolicy
            : WebApp.IsServicePath(path) ? ApiPolicy
            : AppPolicy;
        return Task.CompletedTask;
    }
}
