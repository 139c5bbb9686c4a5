using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.ResponseCompression;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;

namespace TaskRunner.Infrastructure.Http;

/// <summary>The wire conventions of API.md: snake_case JSON, strict bodies, body limits, compression, CORS by configuration.</summary>
public static class HttpConventions
{
    private const string CorsPolicy = "configured-origins";

    public static IServiceCollection AddHttpConventions(this IServiceCollection services)
    {
        services.ConfigureHttpJsonOptions(options =>
        {
            var json = options.SerializerOptions;
            json.TypeInfoResolverChain.Insert(0, AppJsonContext.Default);
            json.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
            json.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
            json.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
            json.NumberHandling = JsonNumberHandling.Strict;
            json.Converters.Add(new ValidUtf8JsonElementConverter());
        });

        // Bad bodies throw instead of answering a bare 400, so ProblemResponses can name the field that failed.
        services.Configure<RouteHandlerOptions>(options => options.ThrowOnBadRequest = true);

        services.AddOptions<KestrelServerOptions>().Configure<IOptions<HttpOptions>>((kestrel, http) =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = http.Value.MaxRequestBodyBytes;
        });

        services.AddResponseCompression(options =>
        {
            options.EnableForHttps = true;
            options.MimeTypes = ["application/json", "application/problem+json", "text/plain", "application/openapi+json"];
            options.Providers.Add<BrotliCompressionProvider>();
            options.Providers.Add<GzipCompressionProvider>();
        });
        services.Configure<BrotliCompressionProviderOptions>(options => options.Level = CompressionLevel.Fastest);
        services.Configure<GzipCompressionProviderOptions>(options => options.Level = CompressionLevel.Fastest);

        services.AddCors();
        services.AddOptions<Microsoft.AspNetCore.Cors.Infrastructure.CorsOptions>()
            .Configure<IOptions<HttpOptions>>((cors, http) => cors.AddPolicy(CorsPolicy, policy => policy
                .WithOrigins(http.Value.CorsAllowedOrigins)
                .AllowAnyHeader()
                .AllowAnyMethod()
                .WithExposedHeaders(RequestId.HeaderName, "ETag", "Link", "Retry-After", "RateLimit", "RateLimit-Policy")));

        services.AddHsts(options =>
        {
            options.MaxAge = TimeSpan.FromDays(365);
            // HTTPS is on only because an operator configured a certificate; honour it for every host name.
            options.ExcludedHosts.Clear();
        });

        services.AddProblemResponses();
        services.AddSingleton<ForwardedClientAddress>();
        services.AddRetention(IdempotencyRetention.Job);
        return services;
    }

    /// <summary>
    /// HTTPS is off by default; it is on when an endpoint in Kestrel:Endpoints has an https URL (with its
    /// Certificate:Path and KeyPath). Then every HTTPS response carries Strict-Transport-Security.
    /// </summary>
    public static IApplicationBuilder UseHstsWhenHttps(this IApplicationBuilder app)
    {
        var endpoints = app.ApplicationServices.GetRequiredService<IConfiguration>().GetSection("Kestrel:Endpoints").GetChildren();
        var httpsConfigured = endpoints.Any(endpoint =>
            endpoint["Url"]?.StartsWith("https://", StringComparison.OrdinalIgnoreCase) == true);
        return httpsConfigured ? app.UseHsts() : app;
    }

    /// <summary>CORS stays off (no headers at all) unless origins are configured.</summary>
    public static IApplicationBuilder UseConfiguredCors(this IApplicationBuilder app)
    {
        var origins = app.ApplicationServices.GetRequiredService<IOptions<HttpOptions>>().Value.CorsAllowedOrigins;
        return origins.Length == 0 ? app : app.UseCors(CorsPolicy);
    }
}
