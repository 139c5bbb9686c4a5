using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;
using Polly;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Observability;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Webhooks;

/// <summary>Refused at connect time: the destination resolved to an address actions may not reach.</summary>
public sealed class DestinationRejectedException(string message) : Exception(message);

/// <summary>
/// The HttpClient deliveries go through. Retries are not its business (the outbox retries on its own schedule, across
/// nodes and restarts), so its resilience pipeline holds an attempt timeout; the circuit per destination is
/// <see cref="DestinationCircuits"/> (which forgets idle destinations, as a pipeline registry would not). Redirects are not followed (a 3xx
/// is a failed attempt), cookies are not kept, and every connection is checked after DNS resolution.
/// </summary>
public static class DeliveryHttp
{
    public const string ClientName = "webhooks";

    public static IServiceCollection AddDeliveryHttp(this IServiceCollection services)
    {
        services.AddHttpClient(ClientName, client =>
            {
                // Deadlines are the pipeline's (headers) and the worker's (the whole attempt).
                client.Timeout = Timeout.InfiniteTimeSpan;
                client.DefaultRequestHeaders.UserAgent.ParseAdd($"TaskRunner-Webhooks/{ServiceVersion.Current}");
            })
            .ConfigurePrimaryHttpMessageHandler(provider => CreateHandler(
                provider.GetRequiredService<IOptions<TasksOptions>>().Value.ActionDestinations()))
            .AddResilienceHandler("webhook-delivery", (pipeline, context) =>
            {
                var options = context.ServiceProvider.GetRequiredService<IOptions<WebhooksOptions>>().Value;
                pipeline.AddTimeout(TimeSpan.FromSeconds(options.AttemptTimeoutSeconds));
            });
        return services;
    }

    /// <summary>
    /// The handler: connects only to addresses it has checked itself, so a name that resolved to a public address when the
    /// action was saved (or a moment ago) cannot point at the internal network now (DNS rebinding).
    /// </summary>
    public static SocketsHttpHandler CreateHandler(DestinationPolicy destinations) => new()
    {
        AllowAutoRedirect = false,
        UseCookies = false,
        UseProxy = false,
        AutomaticDecompression = DecompressionMethods.None,
        PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        ConnectTimeout = TimeSpan.FromSeconds(10),
        ConnectCallback = (context, cancellationToken) => ConnectAsync(context.DnsEndPoint, destinations, cancellationToken),
    };

    private static async ValueTask<Stream> ConnectAsync(DnsEndPoint endPoint, DestinationPolicy destinations, CancellationToken cancellationToken)
    {
        if (!destinations.AllowsPort(endPoint.Port))
            throw new DestinationRejectedException($"port {endPoint.Port} is not allowed: {Destinations.PortProblem(destinations)}");
        var host = endPoint.Host.Trim('[', ']');
        var addresses = IPAddress.TryParse(host, out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(host, cancellationToken);
        if (addresses.Length == 0)
            throw new DestinationRejectedException($"{endPoint.Host} has no address");
        // Every address, not only the first: the socket may fall back to any of them.
        if (!destinations.AllowPrivate && addresses.FirstOrDefault(Destinations.IsNonPublic) is { } internalAddress)
            throw new DestinationRejectedException($"{endPoint.Host} resolves to {internalAddress}, a loopback, private, link-local or otherwise non-public address");
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(addresses, endPoint.Port, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
