using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.RateLimiting;

namespace TaskRunner.Tests.Harness;

/// <summary>
/// Endpoints that exist only in the in-process host, to drive the service's shared mechanisms (body binding, exception
/// translation, shutdown) before real features use them. They sit behind the service's whole middleware pipeline.
/// </summary>
public static class TestEndpoints
{
    public const string Echo = "/_test/echo";
    public const string Throw = "/_test/throw";
    public const string Query = "/_test/query";
    public const string Slow = "/_test/slow";
    public const string LoginGate = "/_test/login-gate";
    public const string Deprecated = "/_test/deprecated";

    public static void Add(IServiceCollection services)
    {
        services.ConfigureHttpJsonOptions(options => options.SerializerOptions.TypeInfoResolverChain.Add(TestJsonContext.Default));
        services.AddSingleton<IStartupFilter, Filter>();
    }

    private sealed class Filter : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            next(app);
            app.UseRouting();
            app.UseEndpoints(routes =>
            {
                // Not part of the service's contract: kept out of its OpenAPI document (and so out of the linter's and fuzzer's way).
                var endpoints = routes.MapGroup("").ExcludeFromDescription();
                endpoints.MapPost(Echo, (EchoBody body) => TypedResults.Ok(body));
                endpoints.MapGet(Throw, string () => throw new InvalidOperationException("secret internals: SELECT * FROM users"));
                endpoints.MapGet(Query, async (NpgsqlDataSource dataSource, CancellationToken cancellationToken) =>
                {
                    await using var command = dataSource.CreateCommand("SELECT 1");
                    return TypedResults.Ok((int)(await command.ExecuteScalarAsync(cancellationToken))!);
                });
                endpoints.MapGet(Slow, async (int milliseconds) =>
                {
                    await Task.Delay(milliseconds);
                    return TypedResults.Ok(milliseconds);
                });
                // No public route is deprecated yet: this one carries the marking through the service's pipeline.
                endpoints.MapGet(Deprecated, () => TypedResults.NoContent()).Deprecated("2026-01-01", "2026-07-31");
                // What the login handler does once it has read the body: the address + email gate.
                endpoints.MapPost(LoginGate, async Task<Results<NoContent, ProblemHttpResult>> (
                    LoginGateBody body, HttpContext http, RateLimitGate gate, CancellationToken cancellationToken) =>
                    await gate.CheckLoginAsync(http, body.Email, cancellationToken) is { } tooMany ? tooMany : TypedResults.NoContent());
            });
        };
    }
}

public sealed record EchoBody(string Title, int Priority, EchoItem[]? Items);

public sealed record EchoItem(string Name);

public sealed record LoginGateBody(string Email);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(EchoBody))]
[JsonSerializable(typeof(LoginGateBody))]
[JsonSerializable(typeof(int))]
internal sealed partial class TestJsonContext : JsonSerializerContext;
