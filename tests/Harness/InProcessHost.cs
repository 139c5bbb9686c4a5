using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace TaskRunner.Tests.Harness;

/// <summary>The service in this process, on real Kestrel over loopback, plus a few test-only endpoints (<see cref="TestEndpoints"/>).</summary>
public sealed class InProcessHost : WebApplicationFactory<Program>
{
    private readonly IReadOnlyList<KeyValuePair<string, string?>> settings;
    private readonly string environment;

    public InProcessHost(IEnumerable<KeyValuePair<string, string?>> settings, string environment = "Testing")
    {
        this.settings = settings.ToList();
        this.environment = environment;
        // Port 0 through the URL, not UseKestrel(0): the factory's port overload clears the server addresses after the app
        // has begun to start, racing Kestrel's bind (dotnet/aspnetcore#67714: "Addresses cannot be modified after the
        // server has started").
        UseKestrel();
        StartServer();
        var address = Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        BaseAddress = new Uri(address);
    }

    public Uri BaseAddress { get; }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment(environment);
        builder.UseUrls("http://127.0.0.1:0");
        foreach (var (key, value) in settings)
            builder.UseSetting(key, value);
        builder.ConfigureServices(TestEndpoints.Add);
    }
}
