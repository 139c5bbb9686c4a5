using System.Net;
using System.Text.Json.Nodes;
using Npgsql;
using NpgsqlTypes;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Infrastructure.Audit;

/// <summary>Who acted (a user, possibly through one of their API keys; nobody for the system), from where, in which request.</summary>
public sealed record AuditActor(Guid? UserId, Guid? ApiKeyId, IPAddress? Ip, string? RequestId)
{
    /// <summary>
    /// The actor of the current request. <paramref name="caller"/> is null before authentication (a login, a registration);
    /// set <see cref="UserId"/> with <c>with { UserId = ... }</c> once the account is known.
    /// </summary>
    public static AuditActor From(HttpContext http, Caller? caller)
    {
        var ip = http.Connection.RemoteIpAddress;
        // Dual-stack sockets report IPv4 clients as ::ffff:a.b.c.d; the trail should show the address people search for.
        if (ip is { IsIPv4MappedToIPv6: true })
            ip = ip.MapToIPv4();
        return new AuditActor(caller?.UserId, caller?.ApiKeyId, ip, http.TraceIdentifier);
    }
}

/// <summary>
/// One audit record. <paramref name="Action"/> is <c>resource.verb</c> (<c>task.delete</c>, <c>auth.login</c>),
/// <paramref name="ResourceType"/> a lower-case noun (<c>task</c>), <paramref name="Diff"/> what changed (see <see cref="AuditDiff"/>).
/// </summary>
public sealed record AuditEntry(string Action, string ResourceType, string? ResourceId, AuditActor Actor, JsonObject? Diff = null);

/// <summary>
/// A compact diff of the fields a change touched: <c>{"role":{"from":"member","to":"admin"}}</c>. Unchanged fields are left
/// out. Never pass secrets (password hashes, token hashes, key material): the trail is readable by every admin.
/// </summary>
public sealed class AuditDiff
{
    private readonly JsonObject changes = [];

    /// <summary>Records the field when its value changed. Plain values convert implicitly (<c>string</c>, <c>bool?</c>, <c>DateTime?</c>, ...).</summary>
    public AuditDiff Change(string field, JsonNode? from, JsonNode? to)
    {
        if (!JsonNode.DeepEquals(from, to))
            changes[field] = new JsonObject { ["from"] = Detached(from), ["to"] = Detached(to) };
        return this;
    }

    /// <summary>
    /// Records the field when <paramref name="changed"/> says so, even if the values shown are equal: a change hidden by
    /// redaction (a header value) is still recorded as a change.
    /// </summary>
    public AuditDiff Change(string field, JsonNode? from, JsonNode? to, bool changed)
    {
        if (changed)
            changes[field] = new JsonObject { ["from"] = Detached(from), ["to"] = Detached(to) };
        return this;
    }

    /// <summary>The diff, or null when nothing changed.</summary>
    public JsonObject? ToJson() => changes.Count == 0 ? null : changes;

    /// <summary>A node belongs to one parent; one taken from another document is copied.</summary>
    private static JsonNode? Detached(JsonNode? node) => node?.Parent is null ? node : node.DeepClone();
}

/// <summary>
/// Writes audit records on the caller's connection and transaction, so a record exists exactly when the change it
/// describes committed: a rolled-back change leaves no record, and no change commits without one.
/// </summary>
public static class AuditWriter
{
    private const string InsertSql = """
        INSERT INTO audit_log (id, actor_user_id, actor_api_key_id, action, resource_type, resource_id, ip, request_id, diff)
        VALUES (@id, @actorUserId, @actorApiKeyId, @action, @resourceType, @resourceId, @ip, @requestId, @diff::jsonb)
        """;

    /// <summary>Writes <paramref name="entry"/> and returns its id.</summary>
    public static async Task<Guid> WriteAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, AuditEntry entry, CancellationToken cancellationToken)
    {
        var id = Ids.New();
        await using var batch = new NpgsqlBatch(connection, transaction) { BatchCommands = { Command(id, entry) } };
        await batch.ExecuteNonQueryAsync(cancellationToken);
        return id;
    }

    /// <summary>
    /// The insert of <paramref name="entry"/> as one command of the caller's batch, for a hot path that sends its change
    /// and its record in one round trip (the batch runs in the change's transaction).
    /// </summary>
    public static NpgsqlBatchCommand Command(AuditEntry entry) => Command(Ids.New(), entry);

    private static NpgsqlBatchCommand Command(Guid id, AuditEntry entry) => new(InsertSql)
    {
        Parameters =
        {
            new NpgsqlParameter<Guid>("id", id),
            Nullable("actorUserId", NpgsqlDbType.Uuid, entry.Actor.UserId),
            Nullable("actorApiKeyId", NpgsqlDbType.Uuid, entry.Actor.ApiKeyId),
            new NpgsqlParameter<string>("action", entry.Action),
            new NpgsqlParameter<string>("resourceType", entry.ResourceType),
            Nullable("resourceId", NpgsqlDbType.Text, entry.ResourceId),
            Nullable("ip", NpgsqlDbType.Inet, entry.Actor.Ip),
            Nullable("requestId", NpgsqlDbType.Text, entry.Actor.RequestId),
            // Sent as text and cast in SQL: serialising a JsonObject needs no type information, so this stays AOT-safe.
            Nullable("diff", NpgsqlDbType.Text, entry.Diff?.ToJsonString()),
        },
    };

    private static NpgsqlParameter Nullable(string name, NpgsqlDbType type, object? value) =>
        new(name, type) { Value = value ?? DBNull.Value };
}
