using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Xunit;

namespace TaskRunner.Tests.Harness;

/// <summary>Shared steps: a project owner whose tasks carry actions to a receiver, started by claiming them.</summary>
public static class WebhookSteps
{
    public static JsonObject Action(string trigger, string url, JsonObject? headers = null)
    {
        var action = new JsonObject { ["trigger"] = trigger, ["url"] = url };
        if (headers is not null)
            action["headers"] = headers;
        return action;
    }

    public static Action<JsonObject> WithActions(params JsonObject[] actions) =>
        body => body["actions"] = new JsonArray(actions.Select(action => (JsonNode)action).ToArray());

    /// <summary>Creates a task with the actions and waits for the leader to push it: its start deliveries go out. Returns its id and lease token.</summary>
    public static async Task<(Guid Id, long LeaseToken)> StartTaskAsync(this EngineWorker owner, params JsonObject[] actions)
    {
        var id = await owner.CreateIdAsync("webhook task", WithActions(actions));
        return (id, await owner.WaitUntilPushedAsync(id));
    }

    public static async Task<JsonElement> DeliveriesOfAsync(this HttpClient client, Guid taskId)
    {
        using var response = await client.GetAsync($"/api/v1/tasks/{taskId}/deliveries");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.ReadJsonAsync()).GetProperty("data");
    }

    /// <summary>Waits until the task's only delivery of the trigger reaches the status; returns it with its attempts.</summary>
    public static async Task<JsonElement> WaitForDeliveryAsync(this HttpClient client, Guid taskId, string status, string trigger = "start", int seconds = 20)
    {
        JsonElement OfTrigger(JsonElement deliveries) =>
            deliveries.EnumerateArray().FirstOrDefault(delivery => delivery.GetProperty("trigger").GetString() == trigger);
        var deliveries = await Eventually.Until(() => client.DeliveriesOfAsync(taskId),
            found => OfTrigger(found) is { ValueKind: JsonValueKind.Object } match && match.GetProperty("status").GetString() == status,
            found => $"delivery did not become {status}: {found}", TimeSpan.FromSeconds(seconds));
        var match = OfTrigger(deliveries);
        using var detail = await client.GetAsync($"/api/v1/deliveries/{match.GetProperty("id").GetString()}");
        return await detail.ReadJsonAsync();
    }

    public static IReadOnlyList<int?> StatusCodes(this JsonElement detail) =>
        detail.GetProperty("attempts").EnumerateArray()
            .Select(attempt => attempt.TryGetProperty("status_code", out var code) ? code.GetInt32() : (int?)null).ToList();
}
