using System.Net;
using System.Net.Sockets;

namespace TaskRunner.Infrastructure.Security;

/// <summary>
/// Where outgoing webhooks may go. A URL is checked when an action is saved (its text: scheme, credentials, literal
/// addresses and internal host names) and again when it is sent, after DNS resolution, because a public name may resolve
/// to a private address.
/// </summary>
public static class Destinations
{
    /// <summary>Null when <paramref name="url"/> is an acceptable webhook URL; otherwise the reason it is not.</summary>
    public static string? CheckUrl(string url, bool allowPrivate)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            return "must be an absolute http or https URL";
        if (uri.UserInfo.Length > 0)
            return "must not contain credentials";
        if (uri.Fragment.Length > 0)
            return "must not contain a fragment";
        if (allowPrivate)
            return null;
        var host = uri.IdnHost.TrimEnd('.');
        if (IPAddress.TryParse(host.Trim('[', ']'), out var address))
            return IsPrivate(address) ? "must not point at a loopback, private or link-local address" : null;
        return IsInternalName(host) ? "must not point at an internal host name" : null;
    }

    /// <summary>Loopback, private (RFC 1918, unique local), link-local, carrier-grade NAT, unspecified or multicast.</summary>
    public static bool IsPrivate(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
            address = address.MapToIPv4();
        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any))
            return true;
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
            return address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6UniqueLocal || address.IsIPv6Multicast;
        Span<byte> bytes = stackalloc byte[4];
        address.TryWriteBytes(bytes, out _);
        return bytes[0] switch
        {
            0 or 10 or 127 => true,
            100 => bytes[1] is >= 64 and <= 127,
            169 => bytes[1] == 254,
            172 => bytes[1] is >= 16 and <= 31,
            192 => bytes[1] == 168,
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
