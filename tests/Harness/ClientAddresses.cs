using System.Net;
using System.Net.Sockets;

namespace TaskRunner.Tests.Harness;

/// <summary>
/// Clients that connect from their own loopback address (any of 127.0.0.0/8 reaches the service), so the service sees
/// distinct callers: each test gets address-keyed state (rate-limit buckets, login throttling) of its own.
/// </summary>
public static class ClientAddresses
{
    private static int next;

    /// <summary>A loopback address no other client of this run has used.</summary>
    public static IPAddress Next()
    {
        var n = Interlocked.Increment(ref next);
        return new IPAddress([127, 2, (byte)(n >> 8), (byte)n]);
    }

    public static HttpClient CreateClientFrom(this ServiceFixture service, IPAddress source) => From(service.BaseAddress, source);

    public static HttpClient From(Uri baseAddress, IPAddress source) => new(new SocketsHttpHandler
    {
        AllowAutoRedirect = false,
        ConnectCallback = async (context, cancellationToken) =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                socket.Bind(new IPEndPoint(source, 0));
                await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    })
    {
        BaseAddress = baseAddress,
        Timeout = TimeSpan.FromSeconds(30),
    };
}
