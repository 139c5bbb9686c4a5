using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Configuration;

/// <summary>A bad setting stops the process before it serves anything: exit code 1 and one line naming the setting.</summary>
public sealed class ConfigurationTests
{
    private static async Task<(int? ExitCode, string Output)> StartWithAsync(params KeyValuePair<string, string?>[] settings)
    {
        await using var service = ServiceProcess.Start(settings);
        var exitCode = await service.WaitForExitAsync(TimeSpan.FromSeconds(30));
        return (exitCode, service.Output);
    }

    private static KeyValuePair<string, string?> Setting(string key, string value) => new(key, value);

    [Fact]
    public async Task AMissingSigningKeyStopsTheProcessNamingTheSetting()
    {
        var (exitCode, output) = await StartWithAsync(Setting("Database:ConnectionString", "Host=127.0.0.1;Username=postgres"));

        Assert.Equal(1, exitCode);
        var line = Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("Auth:JwtSigningKeys", line);
    }

    [Fact]
    public async Task AMissingConnectionStringStopsTheProcessNamingTheSetting()
    {
        var (exitCode, output) = await StartWithAsync();

        Assert.Equal(1, exitCode);
        var line = Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("Invalid configuration", line);
        Assert.Contains("Database:ConnectionString", line);
        Assert.Contains("is required", line);
    }

    [Fact]
    public async Task AnOutOfRangeSettingStopsTheProcessNamingTheSettingAndTheReason()
    {
        var (exitCode, output) = await StartWithAsync(
            [.. ServiceFixture.BaseSettings("Host=127.0.0.1;Username=postgres"), Setting("Database:MaxPoolSize", "0")]);

        Assert.Equal(1, exitCode);
        var line = Assert.Single(output.Split('\n'), line => line.Contains("Invalid configuration", StringComparison.Ordinal));
        Assert.Contains("Database:MaxPoolSize", line);
        Assert.Contains("between 1 and 1000", line);
    }

    [Theory]
    [InlineData("Webhooks:SecretEncryptionKeyId", "absent", "Webhooks:SecretEncryptionKeyId", "names no key")]
    [InlineData("Webhooks:SecretEncryptionKeys:short", "c2hvcnQ=", "Webhooks:SecretEncryptionKeys", "exactly 32 bytes")]
    [InlineData("Webhooks:SecretEncryptionKeys:bad.id", "dGFza3J1bm5lci10ZXN0LXNlYWxpbmcta2V5LTAxMjM=", "Webhooks:SecretEncryptionKeys", "bad.id")]
    public async Task ABadSecretEncryptionKeyStopsTheProcessNamingIt(string key, string value, string named, string reason)
    {
        var (exitCode, output) = await StartWithAsync([.. ServiceFixture.BaseSettings("Host=127.0.0.1;Username=postgres"), Setting(key, value)]);

        Assert.Equal(1, exitCode);
        var line = Assert.Single(output.Split('\n'), line => line.Contains("Invalid configuration", StringComparison.Ordinal));
        Assert.Contains(named, line);
        Assert.Contains(reason, line);
    }

    // Settings the endpoints use for their body limits: read while routes are mapped, they used to crash the process (134).
    [Theory]
    [InlineData("Tasks:MaxBulkBodyBytes", "between 1024 and 268435456")]
    [InlineData("Workflows:MaxDefinitionBytes", "between 1024 and 16777216")]
    [InlineData("Attachments:MaxSizeBytes", "between 1 and 5368709120")]
    public async Task ABadBodyLimitStopsTheProcessNamingIt(string key, string reason)
    {
        var (exitCode, output) = await StartWithAsync([.. ServiceFixture.BaseSettings("Host=127.0.0.1;Username=postgres"), Setting(key, "0")]);

        Assert.Equal(1, exitCode);
        var line = Assert.Single(output.Split('\n'), line => line.Contains("Invalid configuration", StringComparison.Ordinal));
        Assert.Contains(key, line);
        Assert.Contains(reason, line);
    }

    [Fact]
    public async Task AMalformedConnectionStringStopsTheProcess()
    {
        var (exitCode, output) = await StartWithAsync([.. ServiceFixture.BaseSettings("this is not a connection string")]);

        Assert.Equal(1, exitCode);
        Assert.Contains("Database:ConnectionString", output);
        Assert.Contains("not a valid Npgsql connection string", output);
    }

    [Fact]
    public async Task APortAlreadyInUseStopsTheProcessNamingTheAddress()
    {
        using var occupied = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        occupied.Start();
        var port = ((System.Net.IPEndPoint)occupied.LocalEndpoint).Port;

        var (exitCode, output) = await StartWithAsync(
            [.. ServiceFixture.BaseSettings("Host=127.0.0.1;Username=postgres"), Setting("Urls", $"http://127.0.0.1:{port}")]);

        Assert.Equal(1, exitCode);
        var line = Assert.Single(output.Split('\n'), line => line.Contains("Cannot listen", StringComparison.Ordinal));
        Assert.Contains($"127.0.0.1:{port}", line);
    }
}
