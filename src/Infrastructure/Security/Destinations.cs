using System.Net;
using System.Net.Sockets;

namespace TaskRunner.Infrastructure.Security;

/// <summary>
/// Where outgoing webhooks may go: with <see cref="AllowPrivate"/> off, only public addresses; with
/// <see cref="AllowedPorts"/> not empty, only those ports (empty: any).
/// </summary>
public sealed record DestinationPolicy(bool AllowPrivate, IReadOnlyList<int> AllowedPorts)
{
    public bool AllowsPort(int port) => AllowedPorts.Count == 0 || AllowedPorts.Contains(port);
}

/// <summary>
/// Where outgoing webhooks may go. A URL is checked when an action is saved (its text: scheme, credentials, port, literal
/// addresses and internal host names) and again when it is sent, after DNS resolution, because a public name may resolve
/// to a non-public address.
/// </summary>
public static class Destinations
{
    public const string NonPublicAddress = "must not point at a loopback, private or link-local address";

    /// <summary>Null when <paramref name="url"/> is an acceptable webhook URL; otherwise the reason it is not.</summary>
    public static string? CheckUrl(string url, DestinationPolicy policy)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            return "must be an absolute http or https URL";
        if (uri.UserInfo.Length > 0)
            return "must not contain credentials";
        if (uri.Fragment.Length > 0)
            return "must not contain a fragment";
        if (!policy.AllowsPort(uri.Port))
            return PortProblem(policy);
        if (policy.AllowPrivate)
            return null;
        var host = uri.IdnHost.TrimEnd('.');
        if (IPAddress.TryParse(host.Trim('[', ']'), out var address))
            return IsNonPublic(address) ? NonPublicAddress : null;
        return IsInternalName(host) ? "must not point at an internal host name" : null;
    }

    public static string PortProblem(DestinationPolicy policy) => "must use one of the allowed ports: " + string.Join(", ", policy.AllowedPorts);

    /// <summary>
    /// Whether the address is one an action may not reach: loopback, unspecified, "this network", private (RFC 1918),
    /// carrier-grade NAT, link-local, IETF protocol assignments (192.0.0.0/24), benchmarking (198.18.0.0/15), multicast and
    /// the reserved 240.0.0.0/4; in IPv6 also site-local, unique local and multicast, and the transition prefixes through
    /// which an IPv6 address reaches an IPv4 one — NAT64 (64:ff9b::/96, 64:ff9b:1::/48), 6to4 (2002::/16) and Teredo
    /// (2001::/32) whatever they embed. IPv4-mapped (::ffff:0:0/96) and IPv4-compatible (::/96) addresses are judged by the
    /// IPv4 address they carry.
    /// </summary>
    public static bool IsNonPublic(IPAddress address)
    {
        if (address.AddressFamily == AddressFamily.InterNetwork)
            return IsNonPublicIPv4(address);
        if (address.AddressFamily != AddressFamily.InterNetworkV6)
            return true;
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        if (EmbeddedIPv4(bytes) is { } embedded)
            return IsNonPublicIPv4(embedded);
        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.IPv6Any))
            return true;
        if (address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6UniqueLocal || address.IsIPv6Multicast)
            return true;
        return IsTranslation(bytes);
    }

    /// <summary>The IPv4 address an IPv4-mapped (::ffff:a.b.c.d) or IPv4-compatible (::a.b.c.d) address carries; null otherwise.</summary>
    private static IPAddress? EmbeddedIPv4(ReadOnlySpan<byte> bytes)
    {
        if (bytes[..10].ContainsAnyExcept((byte)0))
            return null;
        var mapped = bytes[10] == 0xff && bytes[11] == 0xff;
        var compatible = bytes[10] == 0 && bytes[11] == 0
            // :: and ::1 are IPv6's own unspecified and loopback addresses, not IPv4 ones.
            && ((bytes[12] | bytes[13] | bytes[14]) != 0 || bytes[15] > 1);
        return mapped || compatible ? new IPAddress(bytes[12..]) : null;
    }

    /// <summary>NAT64 (64:ff9b::/96 well-known, 64:ff9b:1::/48 local-use), 6to4 (2002::/16), Teredo (2001::/32).</summary>
    private static bool IsTranslation(ReadOnlySpan<byte> bytes)
    {
        var first = (bytes[0] << 8) | bytes[1];
        var second = (bytes[2] << 8) | bytes[3];
        var third = (bytes[4] << 8) | bytes[5];
        if (first == 0x0064 && second == 0xff9b)
            return third == 0x0001 || !bytes[4..12].ContainsAnyExcept((byte)0);
        return first == 0x2002 || (first == 0x2001 && second == 0x0000);
    }

    private static bool IsNonPublicIPv4(IPAddress address)
    {
        Span<byte> bytes = stackalloc byte[4];
        address.TryWriteBytes(bytes, out _);
        return bytes[0] switch
        {
            0 or 10 or 127 => true,
            100 => bytes[1] is >= 64 and <= 127,
            169 => bytes[1] == 254,
            172 => bytes[1] is >= 16 and <= 31,
            192 => bytes[1] == 168 || (bytes[1] == 0 && bytes[2] == 0),
            198 => bytes[1] is 18 or 19,
            >= 224 => true,
            _ => false,
        };
    }

    private static bool IsInternalName(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
        || host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase)
        || host.EndsWith(".local", StringComparison.OrdinalIgnoreCase)
        || host.EndsWith(".internal", StringComparison.OrdinalIgnoreCase)
        || !host.Contains('.', StringComparison.Ordinal);
}
