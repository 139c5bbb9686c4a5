using System.Buffers;
using System.Text.Json;
using TaskRunner.Infrastructure.Events;

namespace TaskRunner.Features.RealTime;

/// <summary>A message the client sent, understood: its type and, for (un)subscribing, what it names; for <c>view</c>, the task (null: none).</summary>
public sealed record ClientMessage(string Type, SubscriptionTarget? Target);

/// <summary>
/// The wire format of docs/realtime.md: every message is a JSON object <c>{"type","id","at","data"}</c>; events carry
/// their log position as <c>id</c> (what a client resumes from), the server's other messages have no <c>id</c>. Written with
/// <see cref="Utf8JsonWriter"/> straight to UTF-8, once per event whatever the number of sockets it goes to.
/// </summary>
public static class SocketMessages
{
    public const string Subscribe = "subscribe";
    public const string Unsubscribe = "unsubscribe";
    public const string Ping = "ping";
    public const string View = "view";

    // Server messages other than events.
    public const string Subscribed = "subscribed";
    public const string Unsubscribed = "unsubscribed";
    public const string SubscriptionEnded = "subscription_ended";
    public const string Pong = "pong";
    public const string Error = "error";
    public const string Resync = "resync";
    public const string Overflow = "overflow";
    public const string Viewing = "viewing";

    private static readonly string[] IdFields = ["project_id", "task_id", "batch_id", "user_id"];

    /// <summary>An event of the log: its own data, with the ids of the rows it concerns.</summary>
    public static byte[] Event(LoggedEvent logged) => Write(logged.Type, logged.Position.ToString(), logged.At, writer =>
    {
        writer.WriteString("project_id", logged.ProjectId);
        if (logged.TaskId is { } taskId)
            writer.WriteString("task_id", taskId);
        if (logged.BatchId is { } batchId)
            writer.WriteString("batch_id", batchId);
        if (logged.UserId is { } userId)
            writer.WriteString("user_id", userId);
        using var data = JsonDocument.Parse(logged.Data);
        foreach (var property in data.RootElement.EnumerateObject())
        {
            // Membership events repeat user_id in their data: each name once.
            if (!IdFields.Contains(property.Name))
                property.WriteTo(writer);
        }
    });

    /// <summary>A message of the server about the socket itself; <paramref name="fields"/> go into its data as strings.</summary>
    public static byte[] Control(string type, DateTime at, params (string Name, string Value)[] fields) => Write(type, null, at, writer =>
    {
        foreach (var (name, value) in fields)
            writer.WriteString(name, value);
    });

    public static byte[] Target(string type, DateTime at, SubscriptionTarget target, params (string Name, string Value)[] fields) =>
        Control(type, at, [(target.Field, target.Id.ToString()), .. fields]);

    public static byte[] Failure(DateTime at, string code, string detail) => Control(Error, at, ("code", code), ("detail", detail));

    /// <summary>A refused subscribe, naming what it asked for.</summary>
    public static byte[] Failure(DateTime at, SubscriptionTarget target, string code, string detail) =>
        Target(Error, at, target, ("code", code), ("detail", detail));

    private static byte[] Write(string type, string? id, DateTime at, Action<Utf8JsonWriter> data)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("type", type);
            if (id is not null)
                writer.WriteString("id", id);
            writer.WriteString("at", DateTime.SpecifyKind(at, DateTimeKind.Utc));
            writer.WriteStartObject("data");
            data(writer);
            writer.WriteEndObject();
            writer.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>A client's message, or the error to answer it with (code and detail) when it is not one the protocol knows.</summary>
    public static ClientMessage? Parse(ReadOnlySpan<byte> text, out string errorCode, out string errorDetail)
    {
        errorCode = errorDetail = "";
        JsonDocument document;
        try
        {
            var reader = new Utf8JsonReader(text, new JsonReaderOptions { MaxDepth = 8 });
            document = JsonDocument.ParseValue(ref reader);
        }
        catch (JsonException)
        {
            (errorCode, errorDetail) = ("invalid_json", "A message must be one JSON object.");
            return null;
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("type", out var typeElement) || typeElement.ValueKind != JsonValueKind.String)
            {
                (errorCode, errorDetail) = ("invalid_message", "A message must be a JSON object with a string \"type\".");
                return null;
            }
            var type = typeElement.GetString()!;
            switch (type)
            {
                case Ping:
                    return new ClientMessage(type, null);
                case Subscribe or Unsubscribe:
                    SubscriptionTarget? target = null;
                    foreach (var kind in (ReadOnlySpan<SubscriptionKind>)[SubscriptionKind.Project, SubscriptionKind.Task, SubscriptionKind.Batch])
                    {
                        var field = new SubscriptionTarget(kind, Guid.Empty).Field;
                        if (!root.TryGetProperty(field, out var value))
                            continue;
                        if (target is not null || value.ValueKind != JsonValueKind.String || !Guid.TryParse(value.GetString(), out var id))
                        {
                            target = null;
                            break;
                        }
                        target = new SubscriptionTarget(kind, id);
                    }
                    if (target is null)
                    {
                        (errorCode, errorDetail) = ("invalid_message",
                            $"\"{type}\" takes exactly one of \"project_id\", \"task_id\" or \"batch_id\", a UUID.");
                        return null;
                    }
                    return new ClientMessage(type, target);
                case View:
                    if (root.TryGetProperty("task_id", out var viewed))
                    {
                        if (viewed.ValueKind == JsonValueKind.Null)
                            return new ClientMessage(type, null);
                        if (viewed.ValueKind == JsonValueKind.String && Guid.TryParse(viewed.GetString(), out var taskId))
                            return new ClientMessage(type, new SubscriptionTarget(SubscriptionKind.Task, taskId));
                    }
                    (errorCode, errorDetail) = ("invalid_message", "\"view\" takes \"task_id\": a UUID, or null to view none.");
                    return null;
                default:
                    (errorCode, errorDetail) = ("unknown_type", "Known types: subscribe, unsubscribe, view, ping.");
                    return null;
            }
        }
    }
}
