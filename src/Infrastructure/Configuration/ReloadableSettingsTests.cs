using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using TaskRunner.Infrastructure.RateLimiting;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Configuration;

/// <summary>A running service whose settings file (appsettings.{environment}.json beside it) the tests rewrite.</summary>
public sealed class ReloadableSettingsTests(ReloadableSettingsTests.ServiceWithSettingsFile service)
    : IClassFixture<ReloadableSettingsTests.ServiceWithSettingsFile>
{
    public sealed class ServiceWithSettingsFile : ServiceFixture, IAsyncLifetime
    {
        private readonly string environment = "Reload" + Guid.NewGuid().ToString("N");

        protected override string EnvironmentName => environment;

        /// <summary>
        /// Settings given as variables outrank files, so the ones the tests change are left to the file. The environment is
        /// not Testing, which would otherwise supply the cursor key.
        /// </summary>
        protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
            base.Settings(connectionString)
                .Where(setting => !setting.Key.StartsWith("RateLimiting:Search:", StringComparison.Ordinal))
                .Append(new($"{CursorOptions.Section}:{nameof(CursorOptions.SigningKey)}", JwtKey));

        public string SettingsFile => Path.Combine(ContentRoot, $"appsettings.{environment}.json");

        /// <summary>Replaces the whole file, as an operator's deploy tool would.</summary>
        public async Task WriteSettingsAsync(JsonObject settings)
        {
            var staged = SettingsFile + ".new";
            await File.WriteAllTextAsync(staged, settings.ToJsonString());
            File.Move(staged, SettingsFile, overwrite: true);
        }

        async Task IAsyncLifetime.DisposeAsync()
        {
            // Found before the host goes: a stopped host no longer answers where its content root is.
            var settingsFile = SettingsFile;
            try
            {
                await DisposeAsync();
            }
            finally
            {
                File.Delete(settingsFile);
            }
        }
    }

    private static JsonObject SearchLimit(int permitLimit) => new()
    {
        ["RateLimiting"] = new JsonObject
        {
            ["Search"] = new JsonObject { ["PermitLimit"] = permitLimit, ["TokensPerPeriod"] = 1, ["PeriodSeconds"] = 3600 },
        },
    };

    [Fact]
    public async Task ARateLimitChangedInTheSettingsFileAppliesWithoutARestart()
    {
        using var client = await service.SignedInFromAsync(ClientAddresses.Next());

        await service.WriteSettingsAsync(SearchLimit(7));

        await Eventually.Until(async () =>
        {
            using var response = await client.GetAsync("/api/v1/tasks/search?q=anything");
            return response.Field("RateLimit-Policy") ?? "";
        }, policy => policy.Contains("\"search\";q=7;", StringComparison.Ordinal), policy => $"the search policy is still {policy}");
    }

    [Fact]
    public async Task AnInvalidChangeIsIgnoredAndTheSettingsInForceStay()
    {
        using var client = await service.SignedInFromAsync(ClientAddresses.Next());
        await service.WriteSettingsAsync(SearchLimit(9));
        await Eventually.Until(async () =>
        {
            using var response = await client.GetAsync("/api/v1/tasks/search?q=anything");
            return response.Field("RateLimit-Policy") ?? "";
        }, policy => policy.Contains("\"search\";q=9;", StringComparison.Ordinal), policy => $"the search policy is still {policy}");

        var invalid = SearchLimit(0);
        invalid["Http"] = new JsonObject { ["CorsAllowedOrigins"] = new JsonArray("https://after-invalid.example") };
        await service.WriteSettingsAsync(invalid);
        // The rate-limit change is refused, the valid CORS change of the same file applies: that is how the test knows the file was read.
        await Eventually.Until(async () => await AllowedOriginAsync("https://after-invalid.example") is not null,
            "the CORS origin of the same file never applied");
        using var after = await client.GetAsync("/api/v1/tasks/search?q=anything");

        Assert.Contains("\"search\";q=9;", after.Field("RateLimit-Policy"));
    }

    [Fact]
    public async Task ACorsOriginAddedToTheSettingsFileIsAllowedWithoutARestart()
    {
        const string origin = "https://added-later.example";
        Assert.Null(await AllowedOriginAsync(origin));

        await service.WriteSettingsAsync(new JsonObject
        {
            ["Http"] = new JsonObject { ["CorsAllowedOrigins"] = new JsonArray(origin) },
        });

        await Eventually.Until(async () => await AllowedOriginAsync(origin) == origin, $"{origin} is still not allowed");
    }

    [Fact]
    [Trait(TestMode.Trait, TestMode.InProcessOnly)]
    public async Task ALogLevelChangedInTheSettingsFileAppliesWithoutARestart()
    {
        var logger = service.Services!.GetRequiredService<ILoggerFactory>().CreateLogger("TaskRunner.ReloadProbe");
        Assert.False(logger.IsEnabled(LogLevel.Debug));

        await service.WriteSettingsAsync(new JsonObject
        {
            ["Logging"] = new JsonObject { ["LogLevel"] = new JsonObject { ["TaskRunner.ReloadProbe"] = "Debug" } },
        });

        await Eventually.Until(() => logger.IsEnabled(LogLevel.Debug), "the probe's category still logs nothing below Information");
    }

    /// <summary>The Access-Control-Allow-Origin a browser request from <paramref name="origin"/> gets, if any.</summary>
    private async Task<string?> AllowedOriginAsync(string origin)
    {
        using var client = service.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/health/live");
        request.Headers.Add("Origin", origin);
        using var response = await client.SendAsync(request);
        return response.Headers.TryGetValues("Access-Control-Allow-Origin", out var values) ? values.Single() : null;
    }
}
