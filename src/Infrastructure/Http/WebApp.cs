using Microsoft.Extensions.FileProviders;
using Microsoft.Net.Http.Headers;

namespace TaskRunner.Infrastructure.Http;

/// <summary>
/// The dashboard (web/, built into wwwroot/ beside the binary): content-hashed files under /assets/ are cached for a year,
/// and every other GET that is not the service's own (API, OpenAPI, metrics, health) answers index.html, uncached, so
/// the app's client-side routes survive a reload and a new release is picked up at once. A build without wwwroot/ (the
/// web app not built) serves the API alone.
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

    public static IApplicationBuilder UseWebAppFiles(this IApplicationBuilder app)
    {
        if (!File.Exists(Path.Combine(Root, IndexFile)))
            return app;
        return app.UseStaticFiles(new StaticFileOptions
        {
            FileProvider = new PhysicalFileProvider(Root),
            OnPrepareResponse = static context => context.Context.Response.Headers.CacheControl =
                context.Context.Request.Path.StartsWithSegments(AssetsPath) ? ImmutableCaching : Revalidate,
        });
    }

    public static IEndpointRouteBuilder MapWebApp(this IEndpointRouteBuilder app)
    {
        var index = Path.Combine(Root, IndexFile);
        if (!File.Exists(index))
            return app;
        // Paths with a file extension are files: a missing one is a 404, not the app.
        app.MapFallback("{**path:nonfile}", context =>
            {
                if (IsServicePath(context.Request.Path))
                {
                    context.Response.StatusCode = StatusCodes.Status404NotFound;
                    return Task.CompletedTask;
                }
                context.Response.Headers.CacheControl = Revalidate;
                return TypedResults.PhysicalFile(index, "text/html; charset=utf-8").ExecuteAsync(context);
            })
            .WithMetadata(new HttpMethodMetadata([HttpMethods.Get, HttpMethods.Head]))
            .AllowAnonymous()
            .ExcludeFromDescription();
        return app;
    }
}
