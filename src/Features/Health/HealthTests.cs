using System.Net;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Health;

public sealed class HealthTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private readonly HttpClient client = service.CreateClient();

    [Fact]
    public async Task LivenessAnswers200WithoutRunningChecks()
    {
        using var response = await client.GetAsync("/health/live");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.ReadJsonAsync();
        Assert.Equal("healthy", body.GetProperty("status").GetString());
        Assert.Empty(body.GetProperty("checks").EnumerateObject());
    }

    [Fact]
    public async Task ReadinessIs200WhenTheDatabaseAnswersAndTheSchemaIsCurrent()
    {
        using var response = await client.GetAsync("/health/ready");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.ReadJsonAsync();
        Assert.Equal("healthy", body.GetProperty("checks").GetProperty("database").GetProperty("status").GetString());
        Assert.Equal("healthy", body.GetProperty("checks").GetProperty("shutdown").GetProperty("status").GetString());
        Assert.Equal("no-store", response.Headers.CacheControl?.ToString());
    }

    [Fact]
    public async Task SummaryListsEveryCheckWithItsDuration()
    {
        using var response = await client.GetAsync("/health");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var checks = (await response.ReadJsonAsync()).GetProperty("checks");
        Assert.True(checks.GetProperty("database").GetProperty("duration_ms").GetDouble() >= 0);
        Assert.True(checks.TryGetProperty("shutdown", out _));
    }

    [Fact]
    public async Task TheDetailedReportShowsAdminsThePoolFigures()
    {
        using var admin = await service.ClientForNewUserAsync("admin");

        using var response = await admin.GetAsync("/health/detailed");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var pool = (await response.ReadJsonAsync()).GetProperty("connection_pool");
        Assert.True(pool.GetProperty("max").GetInt64() > 0);
        Assert.True(pool.GetProperty("idle").GetInt64() + pool.GetProperty("used").GetInt64() >= 1);
    }

    [Fact]
    public async Task TheDetailedReportIsForAdminsOnly()
    {
        using var member = await service.ClientForNewUserAsync();

        using var asMember = await member.GetAsync("/health/detailed");
        using var anonymous = await client.GetAsync("/health/detailed");

        await asMember.AssertProblemAsync(HttpStatusCode.Forbidden);
        await anonymous.AssertProblemAsync(HttpStatusCode.Unauthorized);
    }
}

public sealed class ReadinessWithoutDatabaseTests(ReadinessWithoutDatabaseTests.UnreachableDatabase service)
    : IClassFixture<ReadinessWithoutDatabaseTests.UnreachableDatabase>
{
    /// <summary>The service configured against a port where no PostgreSQL listens.</summary>
    public sealed class UnreachableDatabase : ServiceFixture
    {
        protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
            base.Settings("Host=127.0.0.1;Port=1;Username=postgres;Database=nowhere")
                .Append(new("Database:ConnectionTimeoutSeconds", "1"));
    }

    [Fact]
    public async Task ReadinessIs503WithRetryAfterWhileTheDatabaseIsUnreachable()
    {
        using var client = service.CreateClient();

        using var response = await client.GetAsync("/health/ready");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.NotNull(response.Headers.RetryAfter);
        var database = (await response.ReadJsonAsync()).GetProperty("checks").GetProperty("database");
        Assert.Equal("unhealthy", database.GetProperty("status").GetString());
        Assert.Equal("database unreachable", database.GetProperty("description").GetString());
    }

    [Fact]
    public async Task LivenessStays200WhileTheDatabaseIsUnreachable()
    {
        using var client = service.CreateClient();

        using var response = await client.GetAsync("/health/live");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}

public sealed class ReadinessWithOldSchemaTests(ReadinessWithOldSchemaTests.SchemaBehind service)
    : IClassFixture<ReadinessWithOldSchemaTests.SchemaBehind>
{
    /// <summary>A database whose last migration has not been applied.</summary>
    public sealed class SchemaBehind : ServiceFixture
    {
        protected override async Task<string> CreateDatabaseAsync()
        {
            var connectionString = await TestDatabases.CreateEmptyAsync();
            Schema.Up(connectionString);
            Schema.Down(connectionString, Schema.VersionBefore(Infrastructure.Database.SchemaVersion.Expected));
            return connectionString;
        }
    }

    [Fact]
    public async Task ReadinessIs503NamingBothVersionsWhenTheSchemaIsNotTheExpectedOne()
    {
        using var client = service.CreateClient();

        using var response = await client.GetAsync("/health/ready");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var description = (await response.ReadJsonAsync()).GetProperty("checks").GetProperty("database").GetProperty("description").GetString();
        Assert.Equal(
            $"schema version is {Schema.VersionBefore(Infrastructure.Database.SchemaVersion.Expected)}, this build expects {Infrastructure.Database.SchemaVersion.Expected}",
            description);
    }
}

[Trait(TestMode.Trait, TestMode.InProcessOnly)]
public sealed class ReadinessWithSaturatedPoolTests(ReadinessWithSaturatedPoolTests.SmallPool service)
    : IClassFixture<ReadinessWithSaturatedPoolTests.SmallPool>
{
    /// <summary>A request pool of three connections that gives up waiting for one after a second.</summary>
    public sealed class SmallPool : ServiceFixture
    {
        public const int PoolSize = 3;

        protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
            base.Settings(connectionString)
                .Append(new("Database:MaxPoolSize", PoolSize.ToString(System.Globalization.CultureInfo.InvariantCulture)))
                .Append(new("Database:ConnectionTimeoutSeconds", "1"));
    }

    [Fact]
    public async Task ReadinessStays200WhileEveryConnectionOfTheRequestPoolIsTaken()
    {
        using var client = service.CreateClient();
        var pool = (Npgsql.NpgsqlDataSource)service.Services!.GetService(typeof(Npgsql.NpgsqlDataSource))!;
        var held = new List<Npgsql.NpgsqlConnection>();
        try
        {
            // Background loops use the pool too: take whatever they leave, until none is left.
            while (held.Count < SmallPool.PoolSize)
            {
                try
                {
                    held.Add(await pool.OpenConnectionAsync());
                }
                catch (Npgsql.NpgsqlException)
                {
                    // Held by a loop for a moment; it comes back.
                }
            }
            using (var saturated = await client.GetAsync(TestEndpoints.Query))
                Assert.Equal(HttpStatusCode.ServiceUnavailable, saturated.StatusCode);

            using var ready = await client.GetAsync("/health/ready");

            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        }
        finally
        {
            foreach (var connection in held)
                await connection.DisposeAsync();
        }
    }
}
