using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using TaskRunner.Features.Execution;
using TaskRunner.Features.Webhooks;
using TaskRunner.Tests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace TaskRunner.Infrastructure.Observability;

/// <summary>A node that exports its spans to a fake collector, with an engine that wakes at once.</summary>
public sealed class TracedNodeFixture : ServiceFixture
{
    public OtlpReceiver Collector { get; private set; } = null!;

    protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
    [
        .. FastEngineFixture.FastEngine(BaseSettings(connectionString)),
        new("Tracing:OtlpEndpoint", Collector.Endpoint),
        new("Tracing:ExportDelayMilliseconds", "100"),
    ];

    protected override async Task<string> CreateDatabaseAsync()
    {
        Collector = await OtlpReceiver.StartAsync();
        return await base.CreateDatabaseAsync();
    }

    protected override async Task DropDatabaseAsync()
    {
        await base.DropDatabaseAsync();
        await Collector.DisposeAsync();
    }
}

public sealed class TracingTests(TracedNodeFixture service, ITestOutputHelper output) : IClassFixture<TracedNodeFixture>
{
    private const string CompleteRoute = "/api/v1/tasks/{id:guid}/complete";

    [Fact]
    public async Task OneDagRunIsOneTraceFromItsCreationThroughEveryWorkersReport()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        using var worker = await EngineWorker.StartAsync(service);
        var traceId = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());
        var callerSpanId = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()[..8]);

        // extract → transform (pushed: its start webhook goes to the receiver) → load, created by one traced request.
        var tasks = new JsonArray(
            new JsonObject { ["ref"] = "extract", ["title"] = "extract" },
            new JsonObject
            {
                ["ref"] = "transform", ["title"] = "transform", ["depends_on"] = new JsonArray("extract"),
                ["actions"] = new JsonArray(WebhookSteps.Action("start", receiver.Url())),
            },
            new JsonObject { ["ref"] = "load", ["title"] = "load", ["depends_on"] = new JsonArray("transform") });
        using var create = new HttpRequestMessage(HttpMethod.Post, "/api/v1/tasks/bulk")
        {
            Content = TestJson.Raw(new JsonObject { ["project_id"] = worker.ProjectId.ToString(), ["tasks"] = tasks }.ToJsonString()),
        };
        create.Headers.Add("traceparent", $"00-{traceId}-{callerSpanId}-01");
        using var created = await worker.Client.SendAsync(create);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var refs = (await created.ReadJsonAsync()).GetProperty("refs");
        Guid Id(string name) => Guid.Parse(refs.GetProperty(name).GetString()!);

        // A pull worker: claims in a trace of its own, then reports in the task's trace, as the claim tells it to.
        var extract = await worker.ClaimOneAsync();
        var extractTraceparent = extract.GetProperty("traceparent").GetString()!;
        Assert.Equal(traceId, extractTraceparent.Split('-')[1]);
        await ReportAsync(worker, Id("extract"), extract.GetProperty("lease_token").GetInt64(), extractTraceparent);

        // A pushed worker: the start webhook carries the trace in its header (and in its payload) and the report continues it.
        var webhook = (await receiver.WaitForAsync(received => received.Count == 1)).Single();
        var webhookTraceparent = webhook.Header("traceparent");
        Assert.Equal(traceId, webhookTraceparent.Split('-')[1]);
        var data = webhook.Json.GetProperty("data");
        Assert.Equal(extractTraceparent, data.GetProperty("traceparent").GetString());
        await ReportAsync(worker, Id("transform"), data.GetProperty("lease_token").GetInt64(), webhookTraceparent);

        var load = await worker.ClaimOneAsync();
        await ReportAsync(worker, Id("load"), load.GetProperty("lease_token").GetInt64(), load.GetProperty("traceparent").GetString()!);

        var spans = await service.Collector.WaitForAsync(received =>
            received.Count(span => span.TraceId == traceId && span.Attribute("http.route") == CompleteRoute) == 3
            && received.Count(span => span.Name == "engine.claim" && span.Links.Any(link => link.TraceId == traceId)) == 2
            && received.Any(span => span.Name == "engine.dispatch" && span.Links.Any(link => link.TraceId == traceId)));
        var trace = spans.Where(span => span.TraceId == traceId).ToList();
        output.WriteLine(Tree(trace, callerSpanId));

        // The creating request is the root under the caller's span; everything of the run hangs below it.
        var creation = Assert.Single(trace, span => span.ParentSpanId == callerSpanId);
        Assert.Equal(ReceivedSpan.ServerKind, creation.Kind);
        Assert.Equal("/api/v1/tasks/bulk", creation.Attribute("http.route"));
        Assert.Contains(trace, span => span.ParentSpanId == creation.SpanId && span.Scope == "Npgsql");

        // Three reports, each a server span in the trace with the engine's completion and propagation below it.
        var reports = trace.Where(span => span.Kind == ReceivedSpan.ServerKind && span.Attribute("http.route") == CompleteRoute).ToList();
        Assert.Equal(3, reports.Count);
        foreach (var report in reports)
        {
            var complete = Assert.Single(trace, span => span.ParentSpanId == report.SpanId && span.Name == "engine.complete");
            Assert.Single(trace, span => span.ParentSpanId == complete.SpanId && span.Name == "engine.propagate");
            Assert.Contains((traceId, creation.SpanId), complete.Links);
        }

        // The start webhook: a send in the task's trace, whose HTTP client span is the parent the receiver was given.
        var deliver = Assert.Single(trace, span => span.Name == "webhook.deliver");
        Assert.Equal(creation.SpanId, deliver.ParentSpanId);
        var send = Assert.Single(trace, span => span.ParentSpanId == deliver.SpanId && span.Scope == "System.Net.Http");
        Assert.Equal(3, send.Kind); // client
        Assert.Equal(send.SpanId, webhookTraceparent.Split('-')[2]);
        Assert.Contains(reports, report => report.ParentSpanId == send.SpanId);
        Assert.Equal(2, reports.Count(report => report.ParentSpanId == creation.SpanId));

        // Claims and dispatch run in traces of their own and link to the run they started.
        Assert.All(spans.Where(span => span.Name is "engine.claim" or "engine.dispatch" && span.Links.Any(link => link.TraceId == traceId)),
            span => Assert.NotEqual(traceId, span.TraceId));
    }

    private static async Task ReportAsync(EngineWorker worker, Guid id, long leaseToken, string traceparent)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/v1/tasks/{id}/complete")
        {
            Content = TestJson.Raw(new JsonObject { ["status"] = "succeeded", ["lease_token"] = leaseToken }.ToJsonString()),
        };
        request.Headers.Add("traceparent", traceparent);
        using var response = await worker.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    /// <summary>The trace as indented text (docs/operations.md shows one), SQL spans folded into a count per parent.</summary>
    private static string Tree(List<ReceivedSpan> trace, string rootParent)
    {
        var text = new StringBuilder();
        void Print(string parent, int depth)
        {
            var children = trace.Where(span => span.ParentSpanId == parent).ToList();
            var sql = children.Count(span => span.Scope == "Npgsql");
            foreach (var span in children.Where(span => span.Scope != "Npgsql"))
            {
                text.Append(' ', depth * 2).Append(span.Name).Append("  [").Append(span.Scope).Append(']').AppendLine();
                Print(span.SpanId, depth + 1);
            }
            if (sql > 0)
                text.Append(' ', depth * 2).Append(sql).AppendLine(" SQL spans  [Npgsql]");
        }
        Print(rootParent, 0);
        return text.ToString();
    }
}
