using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Cors.Infrastructure;
using Microsoft.AspNetCore.ResponseCompression;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;

namespace TaskRunner.Infrastructure.Http;

/// <summary>The wire conventions of API.md: snake_case JSON, strict bodies, body limits, compression, CORS by configuration.</summary>
public static class HttpConventions
{
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
        services.AddSingleton<Reloadable<HttpOptions>>();
        services.AddSingleton<ICorsPolicyProvider, ConfiguredOriginsPolicy>();

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

    /// <summary>CORS answers only while origins are configured (see <see cref="ConfiguredOriginsPolicy"/>).</summary>
    public static IApplicationBuilder UseConfiguredCors(this IApplicationBuilder app) => app.UseCors();

    /// <summary>
    /// The CORS policy of the origins in Http:CorsAllowedOrigins as they are now: the list reloads with the settings file.
    /// No origins, no policy: CORS stays off, with no headers at all and preflights left to routing.
    /// </summary>
    private sealed class ConfiguredOriginsPolicy : ICorsPolicyProvider
    {
        private readonly Reloadable<HttpOptions> options;
        private CorsPolicy? policy;

        public ConfiguredOriginsPolicy(Reloadable<HttpOptions> options)
        {
            this.options = options;
            policy = PolicyOf(options.Current);
            options.Changed += changed => Volatile.Write(ref policy, PolicyOf(changed));
        }

        public Task<CorsPolicy?> GetPolicyAsync(HttpContext context, string? policyName) => Task.FromResult(Volatile.Read(ref policy));

        private static CorsPolicy? PolicyOf(HttpOptions http) => http.CorsAllowedOrigins.Length == 0
            ? null
            : new CorsPolicyBuilder()
                .WithOrigins(http.CorsAllowedOrigins)
                .AllowAnyHeader()
                .AllowAnyMethod()
                .WithExposedHeaders(RequestId.HeaderName, "ETag", "Link", "Retry-After", "RateLimit", "RateLimit-Policy")
                .Build();
    }
}
