using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace TaskRunner.Tests.Harness;

/// <summary>One span as an OTLP collector receives it: ids as lower-case hex, the instrumentation scope that made it.</summary>
public sealed record ReceivedSpan(
    string TraceId, string SpanId, string? ParentSpanId, string Name, int Kind, string Scope,
    IReadOnlyDictionary<string, string> Attributes, IReadOnlyList<(string TraceId, string SpanId)> Links)
{
    public const int ServerKind = 2;

    public string Attribute(string key) => Attributes.TryGetValue(key, out var value) ? value : "";
}

/// <summary>
/// A fake OpenTelemetry collector: a real HTTP server on 127.0.0.1 that accepts OTLP/HTTP protobuf exports on
/// <c>/v1/traces</c> and decodes the spans with a protobuf wire reader of its own (the fields of
/// opentelemetry/proto/trace/v1/trace.proto that the tests look at), independently of the exporter's code.
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly ConcurrentQueue<ReceivedSpan> spans = new();
    private WebApplication? app;

    public string Endpoint { get; private set; } = "";

    public IReadOnlyCollection<ReceivedSpan> Spans => spans.ToArray();

    public static async Task<OtlpReceiver> StartAsync()
    {
        var receiver = new OtlpReceiver();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        var started = builder.Build();
        started.MapPost("/v1/traces", async context =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            foreach (var span in Decode(body.ToArray()))
                receiver.spans.Enqueue(span);
            context.Response.ContentType = "application/x-protobuf";
        });
        await started.StartAsync();
        receiver.Endpoint = started.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        receiver.app = started;
        return receiver;
    }

    /// <summary>Waits until the received spans satisfy <paramref name="condition"/>; fails the test after the timeout.</summary>
    public Task<IReadOnlyCollection<ReceivedSpan>> WaitForAsync(Func<IReadOnlyCollection<ReceivedSpan>, bool> condition, TimeSpan? timeout = null) =>
        Eventually.Until(() => Task.FromResult(Spans), condition, snapshot => $"the collector did not get the expected spans; it got {snapshot.Count}:\n"
            + string.Join("\n", snapshot.Select(span => $"{span.TraceId} {span.SpanId} <- {span.ParentSpanId} {span.Name}")), timeout);

    // ExportTraceServiceRequest.resource_spans(1) → ResourceSpans.scope_spans(2) → ScopeSpans.scope(1).name(1), .spans(2).
    private static IEnumerable<ReceivedSpan> Decode(byte[] request)
    {
        foreach (var resourceSpans in Fields(request).Where(field => field.Number == 1))
            foreach (var scopeSpans in Fields(resourceSpans.Bytes).Where(field => field.Number == 2))
            {
                var fields = Fields(scopeSpans.Bytes).ToList();
                var scope = fields.Where(field => field.Number == 1).Select(field => Text(Fields(field.Bytes), 1)).FirstOrDefault() ?? "";
                foreach (var span in fields.Where(field => field.Number == 2))
                    yield return DecodeSpan(span.Bytes, scope);
            }
    }

    // Span: trace_id 1, span_id 2, parent_span_id 4, name 5, kind 6, attributes 9 (KeyValue), links 13 (trace_id 1, span_id 2).
    private static ReceivedSpan DecodeSpan(byte[] bytes, string scope)
    {
        var fields = Fields(bytes).ToList();
        var parent = Hex(fields, 4);
        var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var attribute in fields.Where(field => field.Number == 9))
        {
            var keyValue = Fields(attribute.Bytes).ToList();
            attributes[Text(keyValue, 1) ?? ""] = AnyValue(keyValue.FirstOrDefault(field => field.Number == 2)?.Bytes ?? []);
        }
        var links = fields.Where(field => field.Number == 13).Select(field => Fields(field.Bytes).ToList())
            .Select(link => (Hex(link, 1) ?? "", Hex(link, 2) ?? "")).ToList();
        return new ReceivedSpan(Hex(fields, 1) ?? "", Hex(fields, 2) ?? "", string.IsNullOrEmpty(parent) ? null : parent,
            Text(fields, 5) ?? "", (int)(fields.FirstOrDefault(field => field.Number == 6)?.Number64 ?? 0), scope, attributes, links);
    }

    // AnyValue: string_value 1, bool_value 2, int_value 3 (varint), double_value 4 (fixed64).
    private static string AnyValue(byte[] bytes)
    {
        foreach (var field in Fields(bytes))
            return field.Number switch
            {
                1 => Encoding.UTF8.GetString(field.Bytes),
                2 => (field.Number64 != 0).ToString(),
                3 => ((long)field.Number64).ToString(System.Globalization.CultureInfo.InvariantCulture),
                4 => BitConverter.Int64BitsToDouble((long)field.Number64).ToString(System.Globalization.CultureInfo.InvariantCulture),
                _ => "",
            };
        return "";
    }

    private static string? Text(IEnumerable<WireField> fields, int number) =>
        fields.FirstOrDefault(field => field.Number == number) is { } found ? Encoding.UTF8.GetString(found.Bytes) : null;

    private static string? Hex(IEnumerable<WireField> fields, int number) =>
        fields.FirstOrDefault(field => field.Number == number) is { } found ? Convert.ToHexStringLower(found.Bytes) : null;

    /// <summary>One field of a protobuf message: its number and either its length-delimited bytes or its numeric value.</summary>
    private sealed record WireField(int Number, byte[] Bytes, ulong Number64);

    private static IEnumerable<WireField> Fields(byte[] message)
    {
        var position = 0;
        while (position < message.Length)
        {
            var tag = Varint(message, ref position);
            var number = (int)(tag >> 3);
            switch (tag & 7)
            {
                case 0:
                    yield return new WireField(number, [], Varint(message, ref position));
                    break;
                case 1:
                    yield return new WireField(number, [], BitConverter.ToUInt64(message, position));
                    position += 8;
                    break;
                case 2:
                    var length = (int)Varint(message, ref position);
                    yield return new WireField(number, message[position..(position + length)], 0);
                    position += length;
                    break;
                case 5:
                    yield return new WireField(number, [], BitConverter.ToUInt32(message, position));
                    position += 4;
                    break;
                default:
                    throw new InvalidDataException($"unsupported protobuf wire type {tag & 7}");
            }
        }
    }

    private static ulong Varint(byte[] message, ref int position)
    {
        ulong value = 0;
        for (var shift = 0; ; shift += 7)
        {
            var current = message[position++];
            value |= (ulong)(current & 0x7F) << shift;
            if ((current & 0x80) == 0)
                return value;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (app is not null)
            await app.DisposeAsync();
    }
}
