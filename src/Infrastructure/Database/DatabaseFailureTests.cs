using System.Diagnostics;
using System.Net;
using Npgsql;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Database;

[Trait(TestMode.Trait, TestMode.InProcessOnly)]
public sealed class UnreachableDatabaseTests(UnreachableDatabaseTests.DeadPort service)
    : IClassFixture<UnreachableDatabaseTests.DeadPort>
{
    public sealed class DeadPort : ServiceFixture
    {
        protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
            base.Settings("Host=127.0.0.1;Port=1;Username=postgres;Database=nowhere")
                .Append(new("Database:ConnectionTimeoutSeconds", "1"));
    }

    [Fact]
    public async Task AQueryWhileTheDatabaseIsUnreachableIsA503WithRetryAfter()
    {
        using var client = service.CreateClient();

        using var response = await client.GetAsync(TestEndpoints.Query);

        await response.AssertProblemAsync(HttpStatusCode.ServiceUnavailable);
        Assert.Equal(TimeSpan.FromSeconds(5), response.Headers.RetryAfter?.Delta);
    }
}

[Trait(TestMode.Trait, TestMode.InProcessOnly)]
public sealed class ExhaustedPoolTests(ExhaustedPoolTests.OneConnection service) : IClassFixture<ExhaustedPoolTests.OneConnection>
{
    public sealed class OneConnection : ServiceFixture
    {
        protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
            base.Settings(connectionString)
                .Append(new("Database:MaxPoolSize", "1"))
                .Append(new("Database:ConnectionTimeoutSeconds", "1"));
    }

    [Fact]
    public async Task AnExhaustedPoolAnswers503QuicklyInsteadOfHanging()
    {
        var dataSource = (NpgsqlDataSource)service.Services!.GetService(typeof(NpgsqlDataSource))!;
        await using var held = await dataSource.OpenConnectionAsync();
        using var client = service.CreateClient();

        var clock = Stopwatch.StartNew();
        using var response = await client.GetAsync(TestEndpoints.Query);

        await response.AssertProblemAsync(HttpStatusCode.ServiceUnavailable);
        Assert.NotNull(response.Headers.RetryAfter);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task TheServiceRecoversOnceAConnectionIsFree()
    {
        using var client = service.CreateClient();

        using var response = await client.GetAsync(TestEndpoints.Query);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
