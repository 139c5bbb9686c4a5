using Microsoft.Extensions.FileProviders;

namespace TaskRunner.Infrastructure.Http;

/// <summary>
/// The dashboard (web/, built into wwwroot/ beside the binary): content-hashed files under /assets/ are cached for a year,
/// and every other GET that nothing else answered and that is not the service's own (API, OpenAPI, metrics, health) answers
/// index.html, uncached, so the app's client-side routes survive a reload and a new release is picked up at once. A build
/// without wwwroot/ (the web app not built) serves the API alone.
/// </summary>
public static class WebApp
{
    public const string AssetsPath = "/assets";
    private const string IndexFile = "index.html";
    private const string ImmutableCaching = "public, max-age=31536000, immutable";
    private const string Revalidate = "no-cache";

    /// <summary>The service's own path roots: never answered with the app, so an unknown API path stays a 404 problem.</summary>
    private static readonly PathString[] ServiceRoots = ["/api", "/openapi", "/metrics", "/health"];

    public static string Root => Path.Combine(AppContext.BaseDirectory, "wwwroot");

    public static bool IsServicePath(PathString path)
    {
        foreach (var root in ServiceRoots)
            if (path.StartsWithSegments(root))
                return true;
        return false;
    }

    /// <summary>
    /// The files, and index.html for a client route. The fallback is a middleware that acts only on a 404 that no endpoint
    /// answered, not an endpoint of its own: a catch-all route would turn a wrong method on any path into a 405 and would
    /// shadow endpoints added after the service's own (test endpoints of the harness).
    /// </summary>
    public static IApplicationBuilder UseWebAppFiles(this IApplicationBuilder app)
    {
        var index = Path.Combine(Root, IndexFile);
        if (!File.Exists(index))
            return app;
        app.UseStaticFiles(new StaticFileOptions
        {
            FileProvider = new PhysicalFileProvider(Root),
            OnPrepareResponse = static context => context.Context.Response.Headers.CacheControl =
                context.Context.Request.Path.StartsWithSegments(AssetsPath) ? ImmutableCaching : Revalidate,
        });
        return app.Use(async (context, next) =>
        {
            await next(context);
            if (IsClientRoute(context))
            {
                context.Response.StatusCode = StatusCodes.Status200OK;
                context.Response.ContentType = "text/html; charset=utf-8";
                context.Response.Headers.CacheControl = Revalidate;
                if (!HttpMethods.IsHead(context.Request.Method))
                    await context.Response.SendFileAsync(index, context.RequestAborted);
            }
        });
    }

    /// <summary>A read nothing answered, of a path that is not the service's and not a file (a missing file stays a 404).</summary>
    private static bool IsClientRoute(HttpContext context) =>
        context.Response.StatusCode == StatusCodes.Status404NotFound
        && !context.Response.HasStarted
        && context.GetEndpoint() is null
        && (HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method))
        && !IsServicePath(context.Request.Path)
        && !Path.HasExtension(context.Request.Path.Value);
}
