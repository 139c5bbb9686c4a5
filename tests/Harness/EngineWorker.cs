using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Xunit;

namespace TaskRunner.Tests.Harness;

/// <summary>The engine's test vocabulary: a worker with its own project, creating tasks and claiming and reporting them over HTTP.</summary>
public sealed class EngineWorker(ServiceFixture service, HttpClient client, Guid projectId, TestAccount account) : IDisposable
{
    public HttpClient Client { get; } = client;

    public Guid ProjectId { get; } = projectId;

    public TestAccount Account { get; } = account;

    public ServiceFixture Service { get; } = service;

    /// <summary>A member who owns a fresh project: claims see only this worker's tasks.</summary>
    public static async Task<EngineWorker> StartAsync(ServiceFixture service)
    {
        var account = await service.CreateUserAsync();
        var project = await service.CreateProjectAsync(account);
        return new EngineWorker(service, await service.ClientForAsync(account), project, account);
    }

    public async Task<JsonElement> CreateAsync(string title, Action<JsonObject>? configure = null)
    {
        var body = new JsonObject { ["project_id"] = ProjectId.ToString(), ["title"] = title };
        configure?.Invoke(body);
        using var response = await Client.PostAsync("/api/v1/tasks", TestJson.Raw(body.ToJsonString()));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    public async Task<Guid> CreateIdAsync(string title, Action<JsonObject>? configure = null) =>
        Guid.Parse((await CreateAsync(title, configure)).GetProperty("id").GetString()!);

    /// <summary>Depends on parents with success edges, or <c>(id, "completion")</c> pairs.</summary>
    public static Action<JsonObject> DependsOn(params object[] parents) => body => body["depends_on"] = new JsonArray(parents.Select(parent => parent switch
    {
        (Guid id, string require) => (JsonNode)new JsonObject { ["task_id"] = id.ToString(), ["require"] = require },
        _ => JsonValue.Create(parent.ToString()),
    }).ToArray());

    public async Task<HttpResponseMessage> PostAsync(string path, JsonObject? body = null) =>
        await Client.PostAsync(path, TestJson.Raw((body ?? []).ToJsonString()));

    /// <summary>Claims and returns the claimed tasks.</summary>
    public async Task<List<JsonElement>> ClaimAsync(
        int limit = 1, int leaseSeconds = 60, int waitSeconds = 0, string? concurrencyKey = null, string? workerName = null)
    {
        var body = new JsonObject { ["limit"] = limit, ["lease_seconds"] = leaseSeconds, ["wait_seconds"] = waitSeconds };
        if (concurrencyKey is not null)
            body["concurrency_key"] = concurrencyKey;
        if (workerName is not null)
            body["worker"] = workerName;
        using var response = await PostAsync("/api/v1/tasks/claim", body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        return JsonDocument.Parse(text).RootElement.GetProperty("tasks").EnumerateArray().Select(task => task.Clone()).ToList();
    }

    public async Task<JsonElement> ClaimOneAsync()
    {
        var claimed = await ClaimAsync();
        return Assert.Single(claimed);
    }

    /// <summary>
    /// Waits until the leader has pushed the task (it has a start action, so it is never claimed); returns its lease token,
    /// or 0 when its run already ended (a synchronous webhook answer can finish it before this looks).
    /// </summary>
    public async Task<long> WaitUntilPushedAsync(Guid id, int seconds = 20)
    {
        var tokens = await Eventually.Until(() => Service.QueryTextAsync("""
                SELECT coalesce((SELECT l.lease_token FROM task_leases l WHERE l.task_id = t.id), 0)::text
                FROM tasks t WHERE t.id = $1 AND t.started_at IS NOT NULL
                """, id),
            found => found.Count == 1, _ => $"task {id} was not pushed within {seconds} s", TimeSpan.FromSeconds(seconds));
        return long.Parse(tokens[0], System.Globalization.CultureInfo.InvariantCulture);
    }

    public async Task<HttpResponseMessage> CompleteAsync(Guid id, long? leaseToken, string status = "succeeded", JsonNode? output = null, string? error = null)
    {
        var body = new JsonObject { ["status"] = status };
        if (leaseToken is not null)
            body["lease_token"] = leaseToken;
        if (output is not null)
            body["output"] = output;
        if (error is not null)
            body["error"] = error;
        return await PostAsync($"/api/v1/tasks/{id}/complete", body);
    }

    /// <summary>Claims the task (it must be the only ready one) and reports its outcome.</summary>
    public async Task RunAsync(Guid id, string status = "succeeded")
    {
        var claimed = await ClaimOneAsync();
        Assert.Equal(id.ToString(), claimed.GetProperty("id").GetString());
        using var response = await CompleteAsync(id, claimed.GetProperty("lease_token").GetInt64(), status);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    public async Task<string> StatusAsync(Guid id) => (await Service.QueryTextAsync("SELECT status FROM tasks WHERE id = $1", id)).Single();

    public async Task<string?> CancelReasonAsync(Guid id) =>
        (await Service.QueryTextAsync("SELECT coalesce(cancel_reason, '') FROM tasks WHERE id = $1", id)).Single() is { Length: > 0 } reason ? reason : null;

    public void Dispose() => Client.Dispose();
}
