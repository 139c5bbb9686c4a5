using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Http;

/// <summary>HTTPS from certificate files, off unless configured; when on, responses over HTTPS carry HSTS.</summary>
public sealed class HttpsTests : IAsyncLifetime
{
    private readonly string certificateDirectory = Directory.CreateTempSubdirectory("taskrunner-tls").FullName;
    private string connectionString = "";

    public async Task InitializeAsync() => connectionString = await TestDatabases.CreateAsync();

    public async Task DisposeAsync()
    {
        await TestDatabases.DropAsync(connectionString);
        Directory.Delete(certificateDirectory, recursive: true);
    }

    private (string CertificatePath, string KeyPath) WriteSelfSignedCertificate()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        var certificatePath = Path.Combine(certificateDirectory, "tls.crt");
        var keyPath = Path.Combine(certificateDirectory, "tls.key");
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return (certificatePath, keyPath);
    }

    [Fact]
    public async Task ConfiguredCertificateFilesServeHttpsWithHsts()
    {
        var (certificatePath, keyPath) = WriteSelfSignedCertificate();
        var httpPort = ServiceProcess.FreePort();
        var httpsPort = ServiceProcess.FreePort();
        await using var service = ServiceProcess.Start(ServiceFixture.BaseSettings(connectionString)
            .Append(new("Kestrel:Endpoints:Http:Url", $"http://127.0.0.1:{httpPort}"))
            .Append(new("Kestrel:Endpoints:Https:Url", $"https://127.0.0.1:{httpsPort}"))
            .Append(new("Kestrel:Endpoints:Https:Certificate:Path", certificatePath))
            .Append(new("Kestrel:Endpoints:Https:Certificate:KeyPath", keyPath)), httpPort);
        Assert.True(await service.WaitUntilListeningAsync(TimeSpan.FromSeconds(30)), service.Output);
        using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, certificate, _, _) =>
            certificate?.Subject == "CN=127.0.0.1" };
        using var client = new HttpClient(handler) { BaseAddress = new Uri($"https://127.0.0.1:{httpsPort}") };

        using var response = await GetOnceListeningAsync(client, "/health/live");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("max-age=31536000", response.Headers.GetValues("Strict-Transport-Security").Single());
    }

    /// <summary>The HTTP endpoint answering first does not mean the HTTPS one already does.</summary>
    private static async Task<HttpResponseMessage> GetOnceListeningAsync(HttpClient client, string path)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await client.GetAsync(path);
            }
            catch (HttpRequestException) when (attempt < 100)
            {
                await Task.Delay(50);
            }
        }
    }

    [Fact]
    public async Task PlainHttpCarriesNoHsts()
    {
        await using var service = ServiceProcess.Start(ServiceFixture.BaseSettings(connectionString));
        Assert.True(await service.WaitUntilListeningAsync(TimeSpan.FromSeconds(30)), service.Output);
        using var client = new HttpClient { BaseAddress = service.BaseAddress };

        using var response = await client.GetAsync("/health/live");

        Assert.False(response.Headers.Contains("Strict-Transport-Security"));
    }
}
