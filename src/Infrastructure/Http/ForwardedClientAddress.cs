using System.Net;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using TaskRunner.Infrastructure.Configuration;

namespace TaskRunner.Infrastructure.Http;

/// <summary>
/// The client's address behind trusted proxies. Off by default: the address is the socket peer's. With
/// <see cref="HttpOptions.TrustedProxies"/> set, a request from a trusted peer is traced back through its forwarding
/// header (<c>X-Forwarded-For</c>, or RFC 7239 <c>Forwarded</c>, whichever <see cref="HttpOptions.ForwardedHeader"/>
/// names): from the right, each hop a trusted proxy vouches for, until the first address that is not itself trusted —
/// the client. Anything left of that was written by the client and is ignored. The result replaces
/// <c>Connection.RemoteIpAddress</c> first thing in the pipeline, so rate limits, lockout, address blocks, sessions and
/// the audit log all see the same address.
/// </summary>
/// <remarks>
/// ASP.NET Core's ForwardedHeadersMiddleware reads only the X-Forwarded-* headers, not <c>Forwarded</c>, and trusts
/// loopback by default; one small resolver covers both headers with nothing trusted unless configured.
/// Only one header is read: a proxy that writes one of them passes the other through from the client unchanged.
/// </remarks>
public sealed class ForwardedClientAddress
{
    private readonly IPNetwork[] trustedProxies;
    private readonly bool rfc7239;

    public ForwardedClientAddress(IOptions<HttpOptions> options)
    {
        trustedProxies = [.. options.Value.TrustedProxies.Select(proxy => HttpOptions.TryParseNetwork(proxy, out var network) ? network : default)];
        rfc7239 = string.Equals(options.Value.ForwardedHeader, HttpOptions.ForwardedRfc7239, StringComparison.OrdinalIgnoreCase);
    }

    public bool Enabled => trustedProxies.Length > 0;

    public string HeaderName => rfc7239 ? HttpOptions.ForwardedRfc7239 : HttpOptions.XForwardedFor;

    /// <summary>The client's address for a request from <paramref name="peer"/> carrying <paramref name="header"/>.</summary>
    public IPAddress Resolve(IPAddress peer, StringValues header)
    {
        var client = Normalized(peer);
        if (!IsTrusted(client) || StringValues.IsNullOrEmpty(header))
            return client;
        var hops = rfc7239 ? ForwardedFor(header) : XForwardedFor(header);
        for (var i = hops.Count - 1; i >= 0 && IsTrusted(client); i--)
        {
            // An obfuscated or unknown hop ("_hidden", "unknown") ends the trail at the proxy that reported it.
            if (ParseNode(hops[i]) is not { } hop)
                break;
            client = hop;
        }
        return client;
    }

    private bool IsTrusted(IPAddress address)
    {
        foreach (var network in trustedProxies)
        {
            if (network.Contains(address))
                return true;
        }
        return false;
    }

    /// <summary>Dual-stack sockets report IPv4 peers as ::ffff:a.b.c.d; networks are written as plain IPv4.</summary>
    private static IPAddress Normalized(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    private static List<string> XForwardedFor(StringValues header) =>
        [.. header.SelectMany(value => (value ?? "").Split(',', StringSplitOptions.TrimEntries))];

    /// <summary>The <c>for</c> parameter of each element of <c>Forwarded</c> (RFC 7239 §4), "" where an element has none.</summary>
    private static List<string> ForwardedFor(StringValues header)
    {
        var nodes = new List<string>();
        foreach (var value in header)
        {
            foreach (var element in SplitOutsideQuotes(value ?? "", ','))
            {
                var node = "";
                foreach (var pair in SplitOutsideQuotes(element, ';'))
                {
                    var equals = pair.IndexOf('=', StringComparison.Ordinal);
                    if (equals > 0 && pair[..equals].Trim().Equals("for", StringComparison.OrdinalIgnoreCase))
                        node = Unquoted(pair[(equals + 1)..].Trim());
                }
                nodes.Add(node);
            }
        }
        return nodes;
    }

    private static IEnumerable<string> SplitOutsideQuotes(string text, char separator)
    {
        var start = 0;
        var quoted = false;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '\\' && quoted)
                i++;
            else if (text[i] == '"')
                quoted = !quoted;
            else if (text[i] == separator && !quoted)
            {
                yield return text[start..i];
                start = i + 1;
            }
        }
        yield return text[start..];
    }

    private static string Unquoted(string value) =>
        value.Length >= 2 && value[0] == '"' && value[^1] == '"' ? value[1..^1].Replace("\\", "", StringComparison.Ordinal) : value;

    /// <summary>An address with or without a port: <c>192.0.2.1</c>, <c>192.0.2.1:4711</c>, <c>2001:db8::1</c>, <c>[2001:db8::1]:4711</c>.</summary>
    private static IPAddress? ParseNode(string node)
    {
        if (node.StartsWith('['))
        {
            var close = node.IndexOf(']', StringComparison.Ordinal);
            return close > 0 && IPAddress.TryParse(node.AsSpan(1, close - 1), out var bracketed) ? Normalized(bracketed) : null;
        }
        var colon = node.IndexOf(':', StringComparison.Ordinal);
        if (colon > 0 && colon == node.LastIndexOf(':'))
            node = node[..colon];
        return node.Length > 0 && char.IsAsciiHexDigit(node[0]) && IPAddress.TryParse(node, out var address) ? Normalized(address) : null;
    }
}

public static class ForwardedClientAddresses
{
    /// <summary>First in the pipeline, so everything after it sees the client's address; nothing at all when off.</summary>
    public static IApplicationBuilder UseForwardedClientAddress(this IApplicationBuilder app)
    {
        var resolver = app.ApplicationServices.GetRequiredService<ForwardedClientAddress>();
        if (!resolver.Enabled)
            return app;
        var headerName = resolver.HeaderName;
        return app.Use((context, next) =>
        {
            if (context.Connection.RemoteIpAddress is { } peer)
                context.Connection.RemoteIpAddress = resolver.Resolve(peer, context.Request.Headers[headerName]);
            return next(context);
        });
    }
}
