using System.Net;
using TaskRunner.Features.Webhooks;
using Xunit;

namespace TaskRunner.Infrastructure.Security;

/// <summary>
/// Every refused range with the addresses just inside and just outside each of its ends, as an IP literal in a URL (checked
/// when an action is saved) and as the address a connection would go to (checked at connect time, after DNS).
/// </summary>
public sealed class DestinationsTests
{
    private static readonly DestinationPolicy PublicOnly = new(false, []);

    public static TheoryData<string, bool> Boundaries => new()
    {
        // 0.0.0.0/8 "this network"
        { "0.0.0.0", true }, { "0.255.255.255", true }, { "1.0.0.0", false },
        // 10.0.0.0/8
        { "9.255.255.255", false }, { "10.0.0.0", true }, { "10.255.255.255", true }, { "11.0.0.0", false },
        // 100.64.0.0/10 carrier-grade NAT
        { "100.63.255.255", false }, { "100.64.0.0", true }, { "100.127.255.255", true }, { "100.128.0.0", false },
        // 127.0.0.0/8 loopback
        { "126.255.255.255", false }, { "127.0.0.0", true }, { "127.255.255.255", true }, { "128.0.0.0", false },
        // 169.254.0.0/16 link-local
        { "169.253.255.255", false }, { "169.254.0.0", true }, { "169.254.255.255", true }, { "169.255.0.0", false },
        // 172.16.0.0/12
        { "172.15.255.255", false }, { "172.16.0.0", true }, { "172.31.255.255", true }, { "172.32.0.0", false },
        // 192.0.0.0/24 IETF protocol assignments
        { "191.255.255.255", false }, { "192.0.0.0", true }, { "192.0.0.255", true }, { "192.0.1.0", false },
        // 192.168.0.0/16
        { "192.167.255.255", false }, { "192.168.0.0", true }, { "192.168.255.255", true }, { "192.169.0.0", false },
        // 198.18.0.0/15 benchmarking
        { "198.17.255.255", false }, { "198.18.0.0", true }, { "198.19.255.255", true }, { "198.20.0.0", false },
        // 224.0.0.0/4 multicast and 240.0.0.0/4 reserved, to the broadcast address
        { "223.255.255.255", false }, { "224.0.0.0", true }, { "255.255.255.255", true },
        { "8.8.8.8", false },

        // IPv6 unspecified and loopback
        { "::", true }, { "::1", true },
        // IPv4-compatible ::/96: judged by the IPv4 address it carries
        { "::2", true }, { "::a00:1", true }, { "::808:808", false }, { "::ffff:ffff", true },
        // IPv4-mapped ::ffff:0:0/96: judged by the IPv4 address it carries
        { "::ffff:0.0.0.0", true }, { "::ffff:127.0.0.1", true }, { "::ffff:10.0.0.1", true }, { "::ffff:198.18.0.1", true },
        { "::ffff:8.8.8.8", false }, { "::ffff:255.255.255.255", true }, { "::fffe:ffff:ffff", false }, { "::1:0:0:0", false },
        { "::1:0:0", false },
        // NAT64 well-known 64:ff9b::/96, whatever it embeds
        { "64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff", false }, { "64:ff9b::", true }, { "64:ff9b::808:808", true },
        { "64:ff9b::ffff:ffff", true }, { "64:ff9b::1:0:0", false },
        // NAT64 local-use 64:ff9b:1::/48
        { "64:ff9b:0:ffff:ffff:ffff:ffff:ffff", false }, { "64:ff9b:1::", true }, { "64:ff9b:1:ffff:ffff:ffff:ffff:ffff", true },
        { "64:ff9b:2::", false },
        // Teredo 2001::/32
        { "2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false }, { "2001::", true }, { "2001:0:ffff:ffff:ffff:ffff:ffff:ffff", true },
        { "2001:1::", false },
        // 6to4 2002::/16
        { "2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false }, { "2002::", true }, { "2002:808:808::1", true },
        { "2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true }, { "2003::", false },
        // unique local fc00::/7
        { "fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false }, { "fc00::", true }, { "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true },
        // link-local fe80::/10 and site-local fec0::/10
        { "fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false }, { "fe80::", true }, { "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true },
        // multicast ff00::/8
        { "ff00::", true }, { "ff02::1", true },
        { "2606:4700::1111", false },
    };

    [Theory]
    [MemberData(nameof(Boundaries))]
    public void EveryNonPublicRangeIsRefusedAndItsNeighboursAreNot(string address, bool refused) =>
        Assert.Equal(refused, Destinations.IsNonPublic(IPAddress.Parse(address)));

    [Theory]
    [MemberData(nameof(Boundaries))]
    public void AnActionUrlWithTheAddressIsJudgedTheSame(string address, bool refused)
    {
        var host = address.Contains(':', StringComparison.Ordinal) ? $"[{address}]" : address;

        var problem = Destinations.CheckUrl($"https://{host}/hook", PublicOnly);

        Assert.Equal(refused ? Destinations.NonPublicAddress : null, problem);
    }

    [Theory]
    [InlineData("https://hooks.example.com/a", null)]
    [InlineData("https://hooks.example.com:443/a", null)]
    [InlineData("http://hooks.example.com:8443/a", null)]
    [InlineData("http://hooks.example.com/a", "must use one of the allowed ports: 443, 8443")]
    [InlineData("https://hooks.example.com:444/a", "must use one of the allowed ports: 443, 8443")]
    public void OnlyAllowedPortsPassWhenSomeAreConfigured(string url, string? problem) =>
        Assert.Equal(problem, Destinations.CheckUrl(url, new DestinationPolicy(false, [443, 8443])));

    [Fact]
    public void NoConfiguredPortsAllowAnyPort() =>
        Assert.Null(Destinations.CheckUrl("https://hooks.example.com:1/a", PublicOnly));

    [Theory]
    [InlineData("http://[64:ff9b::7f00:1]:9/hook")]
    [InlineData("http://[::ffff:127.0.0.1]:9/hook")]
    [InlineData("http://[2002:7f00:1::1]:9/hook")]
    [InlineData("http://198.18.0.1:9/hook")]
    // A name: resolved by the handler itself, which checks every address before connecting (DNS rebinding).
    [InlineData("http://localhost:9/hook")]
    public async Task TheDeliveryHandlerRefusesNonPublicAddressesAtConnectTime(string url)
    {
        using var client = new HttpClient(DeliveryHttp.CreateHandler(PublicOnly));

        var failure = await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync(url));

        Assert.IsType<DestinationRejectedException>(failure.InnerException);
    }

    [Fact]
    public async Task TheDeliveryHandlerRefusesAPortThatIsNotAllowedAtConnectTime()
    {
        using var client = new HttpClient(DeliveryHttp.CreateHandler(new DestinationPolicy(true, [443])));

        var failure = await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync("http://127.0.0.1:9/hook"));

        var rejected = Assert.IsType<DestinationRejectedException>(failure.InnerException);
        Assert.Contains("port 9", rejected.Message);
    }
}
