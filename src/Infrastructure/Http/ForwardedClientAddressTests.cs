using System.Net;
using Microsoft.Extensions.Options;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Http;

/// <summary>Logs in through <paramref name="client"/> with a forwarding header and reads back the address the session was recorded at.</summary>
internal static class ForwardedLogins
{
    public static async Task<HttpResponseMessage> LoginForwardedAsync(
        this HttpClient client, string email, string password, params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/auth/login")
        {
            Content = TestJson.Body(("email", email), ("password", password)),
        };
        foreach (var (name, value) in headers)
            request.Headers.TryAddWithoutValidation(name, value);
        return await client.SendAsync(request);
    }

    /// <summary>The address the service recorded the new session at.</summary>
    public static async Task<string?> SessionAddressAsync(this ServiceFixture service, HttpClient client, params (string Name, string Value)[] headers)
    {
        var account = await service.CreateUserAsync();
        using var login = await client.LoginForwardedAsync(account.Email, account.Password, headers);
        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        var token = (await login.ReadJsonAsync()).GetProperty("access_token").GetString()!;
        using var reader = service.CreateClient().WithBearer(token);
        using var sessions = await reader.GetAsync("/api/v1/auth/sessions");
        return (await sessions.ReadJsonAsync()).GetProperty("data").EnumerateArray().Single().GetProperty("ip").GetString();
    }
}

public sealed class ForwardedForTests(ForwardedForTests.BehindAProxy service) : IClassFixture<ForwardedForTests.BehindAProxy>
{
    public sealed class BehindAProxy : ServiceFixture
    {
        public IPAddress Proxy { get; } = ClientAddresses.Next();

        protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
            base.Settings(connectionString).Concat(
            [
                new("Http:TrustedProxies:0", Proxy.ToString()),
                new("Http:TrustedProxies:1", "10.0.0.0/8"),
                new("Auth:IpMaxFailures", "2"),
            ]);
    }

    [Fact]
    public async Task ALoginThroughATrustedProxyIsRecordedAtTheForwardedAddress()
    {
        using var proxy = service.CreateClientFrom(service.Proxy);

        var address = await service.SessionAddressAsync(proxy, ("X-Forwarded-For", "203.0.113.7"));

        Assert.Equal("203.0.113.7", address);
    }

    [Fact]
    public async Task ForwardingHeadersFromAPeerThatIsNotTrustedAreIgnored()
    {
        var peer = ClientAddresses.Next();
        using var client = service.CreateClientFrom(peer);

        var address = await service.SessionAddressAsync(client, ("X-Forwarded-For", "203.0.113.8"));

        Assert.Equal(peer.ToString(), address);
    }

    [Fact]
    public async Task TheClientIsTheRightmostAddressNoTrustedProxyVouchesFor()
    {
        using var proxy = service.CreateClientFrom(service.Proxy);

        var address = await service.SessionAddressAsync(proxy, ("X-Forwarded-For", "198.51.100.1, 203.0.113.9, 10.1.2.3"));

        Assert.Equal("203.0.113.9", address);
    }

    [Fact]
    public async Task AnAddressBlockAndItsAuditEntryApplyToTheForwardedClientNotToTheProxy()
    {
        using var proxy = service.CreateClientFrom(service.Proxy);
        var account = await service.CreateUserAsync();
        for (var attempt = 0; attempt < 2; attempt++)
        {
            using var failure = await proxy.LoginForwardedAsync(account.Email, "wrong password " + attempt, ("X-Forwarded-For", "203.0.113.20"));
            Assert.Equal(HttpStatusCode.Unauthorized, failure.StatusCode);
        }

        using var blocked = await proxy.LoginForwardedAsync(account.Email, account.Password, ("X-Forwarded-For", "203.0.113.20"));
        using var neighbour = await proxy.LoginForwardedAsync(account.Email, "wrong password again", ("X-Forwarded-For", "203.0.113.21"));

        await blocked.AssertProblemAsync(HttpStatusCode.TooManyRequests);
        Assert.Equal(HttpStatusCode.Unauthorized, neighbour.StatusCode);
        Assert.Equal(["203.0.113.20"], await service.QueryTextAsync(
            "SELECT host(ip) FROM audit_log WHERE action = 'auth.address_blocked'"));
    }
}

public sealed class ForwardedRfc7239Tests(ForwardedRfc7239Tests.BehindAnRfc7239Proxy service) : IClassFixture<ForwardedRfc7239Tests.BehindAnRfc7239Proxy>
{
    public sealed class BehindAnRfc7239Proxy : ServiceFixture
    {
        public IPAddress Proxy { get; } = ClientAddresses.Next();

        protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
            base.Settings(connectionString).Concat(
            [
                new("Http:TrustedProxies:0", Proxy.ToString()),
                new("Http:ForwardedHeader", "Forwarded"),
            ]);
    }

    [Fact]
    public async Task TheForwardedHeaderNamesTheClientAndXForwardedForIsThenIgnored()
    {
        using var proxy = service.CreateClientFrom(service.Proxy);

        var address = await service.SessionAddressAsync(proxy,
            ("Forwarded", "for=\"[2001:db8:cafe::17]:4711\";proto=https;by=203.0.113.43"),
            ("X-Forwarded-For", "198.51.100.77"));

        Assert.Equal("2001:db8:cafe::17", address);
    }
}

public sealed class ForwardedClientAddressResolutionTests
{
    private static ForwardedClientAddress Resolver(string header, params string[] trusted) =>
        new(Options.Create(new HttpOptions { TrustedProxies = trusted, ForwardedHeader = header }));

    [Theory]
    [InlineData("203.0.113.1, 10.0.0.2", "203.0.113.1")]
    [InlineData("203.0.113.1:8080", "203.0.113.1")]
    [InlineData("[2001:db8::5]:8080", "2001:db8::5")]
    [InlineData("unknown, 10.0.0.2", "10.0.0.2")]
    [InlineData("not an address", "10.0.0.1")]
    [InlineData("10.0.0.3, 10.0.0.2", "10.0.0.3")]
    public void XForwardedForIsReadFromTheRightThroughTrustedHops(string header, string expected)
    {
        var resolver = Resolver(HttpOptions.XForwardedFor, "10.0.0.0/8");

        Assert.Equal(IPAddress.Parse(expected), resolver.Resolve(IPAddress.Parse("::ffff:10.0.0.1"), header));
    }

    [Theory]
    [InlineData("for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60")]
    [InlineData("for=192.0.2.43, for=198.51.100.17", "198.51.100.17")]
    [InlineData("For=\"192.0.2.44:4711\"", "192.0.2.44")]
    [InlineData("for=192.0.2.43, for=\"_hidden\"", "10.0.0.1")]
    [InlineData("proto=https", "10.0.0.1")]
    public void TheForwardedHeaderIsParsedAsRfc7239Says(string header, string expected)
    {
        var resolver = Resolver(HttpOptions.ForwardedRfc7239, "10.0.0.1");

        Assert.Equal(IPAddress.Parse(expected), resolver.Resolve(IPAddress.Parse("10.0.0.1"), header));
    }

    [Fact]
    public void WithNoTrustedProxyNothingIsForwarded()
    {
        Assert.False(Resolver(HttpOptions.XForwardedFor).Enabled);
    }
}
