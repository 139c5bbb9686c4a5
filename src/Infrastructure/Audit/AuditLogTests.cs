using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Npgsql;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Audit;

public sealed class AuditWriterTests : DatabaseTest
{
    private static AuditEntry Entry(string resourceId, JsonObject? diff = null) => new(
        "user.update", "user", resourceId,
        new AuditActor(Guid.CreateVersion7(), Guid.CreateVersion7(), IPAddress.Parse("203.0.113.7"), "req-1"), diff);

    [Fact]
    public async Task AnEntryCommittedWithItsChangeIsRecordedWithEveryField()
    {
        var entry = Entry("u-1", new AuditDiff().Change("role", "member", "admin").ToJson());

        var id = await DataSource.InTransactionAsync(
            (connection, transaction) => AuditWriter.WriteAsync(connection, transaction, entry, CancellationToken.None),
            CancellationToken.None);

        await using var read = DataSource.CreateCommand("""
            SELECT actor_user_id, actor_api_key_id, action, resource_type, resource_id, host(ip), request_id, diff::text,
                   occurred_at > now() - interval '1 minute'
            FROM audit_log WHERE id = $1
            """);
        read.Parameters.AddWithValue(id);
        await using var row = await read.ExecuteReaderAsync();
        Assert.True(await row.ReadAsync());
        Assert.Equal(entry.Actor.UserId, row.GetGuid(0));
        Assert.Equal(entry.Actor.ApiKeyId, row.GetGuid(1));
        Assert.Equal("user.update", row.GetString(2));
        Assert.Equal("user", row.GetString(3));
        Assert.Equal("u-1", row.GetString(4));
        Assert.Equal("203.0.113.7", row.GetString(5));
        Assert.Equal("req-1", row.GetString(6));
        Assert.Equal("""{"role": {"to": "admin", "from": "member"}}""", row.GetString(7));
        Assert.True(row.GetBoolean(8));
        Assert.Equal(7, id.Version);
    }

    [Fact]
    public async Task ARolledBackChangeLeavesNoAuditEntry()
    {
        await Assert.ThrowsAsync<InvalidOperationException>(() => DataSource.InTransactionAsync<Guid>(async (connection, transaction) =>
        {
            await AuditWriter.WriteAsync(connection, transaction, Entry("rolled-back"), CancellationToken.None);
            throw new InvalidOperationException("the change failed after its audit entry was written");
        }, CancellationToken.None));

        await using var count = DataSource.CreateCommand("SELECT count(*) FROM audit_log WHERE resource_id = 'rolled-back'");
        Assert.Equal(0L, await count.ExecuteScalarAsync());
    }

    [Fact]
    public async Task TheSchemaRejectsMalformedActionsAndDiffsThatAreNotObjects()
    {
        await using var connection = await DataSource.OpenConnectionAsync();

        var action = await Assert.ThrowsAsync<PostgresException>(() =>
            AuditWriter.WriteAsync(connection, null, Entry("x") with { Action = "Task-Delete" }, CancellationToken.None));
        await using var insert = DataSource.CreateCommand("INSERT INTO audit_log (id, action, resource_type, diff) VALUES (gen_random_uuid(), 'task.update', 'task', '[1]')");
        var diff = await Assert.ThrowsAsync<PostgresException>(() => insert.ExecuteNonQueryAsync());

        Assert.Equal(PgErrors.CheckViolation, action.SqlState);
        Assert.Equal(PgErrors.CheckViolation, diff.SqlState);
    }
}

public sealed class AuditDiffTests
{
    [Fact]
    public void OnlyChangedFieldsAreRecordedWithTheirOldAndNewValues()
    {
        var at = new DateTime(2026, 1, 31, 12, 0, 0, DateTimeKind.Utc);

        var diff = new AuditDiff()
            .Change("role", "member", "admin")
            .Change("disabled", false, false)
            .Change("priority", 50, 80)
            .Change("assignee_id", (Guid?)null, Guid.Parse("0197a000-0000-7000-8000-000000000001"))
            .Change("scheduled_at", at, at)
            .Change("description", "same", "same")
            .ToJson();

        Assert.Equal(
            """{"role":{"from":"member","to":"admin"},"priority":{"from":50,"to":80},"assignee_id":{"from":null,"to":"0197a000-0000-7000-8000-000000000001"}}""",
            diff!.ToJsonString());
    }

    [Fact]
    public void NothingChangedIsNoDiffAtAll()
    {
        Assert.Null(new AuditDiff().Change("title", "a", "a").ToJson());
    }

    [Fact]
    public void ValuesTakenFromAnotherDocumentAreCopied()
    {
        var before = JsonNode.Parse("""{"metadata":{"team":"a"}}""")!;
        var after = JsonNode.Parse("""{"metadata":{"team":"b"}}""")!;

        var diff = new AuditDiff().Change("metadata", before["metadata"], after["metadata"]).ToJson();

        Assert.Equal("""{"metadata":{"from":{"team":"a"},"to":{"team":"b"}}}""", diff!.ToJsonString());
        Assert.NotNull(before["metadata"]);
    }
}

public sealed class AuditActorTests
{
    [Fact]
    public void TheActorIsTheCallerWithItsKeyAddressAndRequestId()
    {
        var http = new DefaultHttpContext { TraceIdentifier = "req-42" };
        http.Connection.RemoteIpAddress = IPAddress.Parse("::ffff:198.51.100.4");
        var caller = new Caller(Guid.CreateVersion7(), Roles.Member, null, Guid.CreateVersion7());

        var actor = AuditActor.From(http, caller);

        Assert.Equal(new AuditActor(caller.UserId, caller.ApiKeyId, IPAddress.Parse("198.51.100.4"), "req-42"), actor);
    }

    [Fact]
    public void BeforeAuthenticationTheActorHasOnlyAddressAndRequestId()
    {
        var http = new DefaultHttpContext { TraceIdentifier = "req-43" };
        http.Connection.RemoteIpAddress = IPAddress.IPv6Loopback;

        var actor = AuditActor.From(http, null);

        Assert.Equal(new AuditActor(null, null, IPAddress.IPv6Loopback, "req-43"), actor);
    }
}
