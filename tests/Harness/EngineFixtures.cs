using System.Text.Json;
using System.Text.Json.Nodes;

namespace TaskRunner.Tests.Harness;

/// <summary>A service whose leader dispatches and sweeps every second and retries after about a second, so engine tests run in seconds.</summary>
public class FastEngineFixture : ServiceFixture
{
    public static IEnumerable<KeyValuePair<string, string?>> FastEngine(IEnumerable<KeyValuePair<string, string?>> settings) =>
    [
        .. settings,
        new("Engine:DispatchPollSeconds", "1"),
        new("Engine:SweepIntervalSeconds", "1"),
        new("Engine:RetryBaseSeconds", "1"),
        new("Engine:RetryMaxSeconds", "1"),
        new("Cluster:LeaderRetrySeconds", "1"),
    ];

    protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) => FastEngine(BaseSettings(connectionString));
}

/// <summary>Pushed tasks, as a webhook receiver sees them: their start deliveries in the outbox.</summary>
public static class PushedTasks
{
    public static JsonArray StartAction() => new(new JsonObject { ["trigger"] = "start", ["url"] = "http://127.0.0.1:9/start" });

    public static Action<JsonObject> Pushed(Action<JsonObject>? more = null) => body =>
    {
        body["actions"] = StartAction();
        more?.Invoke(body);
    };

    /// <summary>Waits until the query <paramref name="condition"/> (one boolean, on $1) is true, or fails after <paramref name="seconds"/>.</summary>
    public static Task WaitForAsync(this ServiceFixture service, string condition, object value, double seconds = 15) =>
        Eventually.Until(() => service.ScalarAsync<bool>(condition, value), $"timed out waiting for {condition} ({value})",
            TimeSpan.FromSeconds(seconds), TimeSpan.FromMilliseconds(100));

    /// <summary>
    /// Returns once the leader has run a dispatch pass after this call: a marker task pushed now is running. Lets a test
    /// assert that something did not happen without sleeping for a guessed time.
    /// </summary>
    public static async Task AfterAnotherDispatchAsync(this ServiceFixture service, EngineWorker worker)
    {
        var marker = await worker.CreateIdAsync("dispatch marker", Pushed());
        await service.WaitForAsync("SELECT status = 'running' FROM tasks WHERE id = $1", marker);
    }

    public static async Task<List<JsonElement>> StartPayloadsAsync(this ServiceFixture service, Guid id) =>
        (await service.QueryTextAsync("SELECT payload::text FROM outbox WHERE task_id = $1 AND trigger = 'start' ORDER BY created_at", id))
        .Select(text => JsonDocument.Parse(text).RootElement.Clone()).ToList();
}
