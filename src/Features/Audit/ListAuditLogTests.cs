using System.Net;
using System.Text.Json;
using Npgsql;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Audit;

/// <summary>The trail's list query against a real database, called directly: filters, order and keyset paging.</summary>
public sealed class AuditLogQueryTests : DatabaseTest
{
    private static AuditEntry Entry(string action, string resourceId, Guid? userId = null) =>
        new(action, action.Split('.')[0], resourceId, new AuditActor(userId, null, null, null));

    /// <summary>Writes the entries in one transaction: they share occurred_at, so only the id orders them.</summary>
    private async Task<List<Guid>> WriteTogetherAsync(params AuditEntry[] entries) =>
        await DataSource.InTransactionAsync(async (connection, transaction) =>
        {
            var ids = new List<Guid>();
            foreach (var entry in entries)
                ids.Add(await AuditWriter.WriteAsync(connection, transaction, entry, CancellationToken.None));
            return ids;
        }, CancellationToken.None);

    private static readonly KeysetSort<ListAuditLog.AuditRow> NewestFirst = ListAuditLog.Definition.Sorts.Parse(null, new())!;

    private async Task<List<ListAuditLog.AuditRow>> QueryAsync(AuditLogFilter filter, ListAuditLog.AuditRow? after = null, int limit = 100)
    {
        await using var connection = await DataSource.OpenConnectionAsync();
        CursorValue[]? position = after is null ? null : [CursorValue.Of(after.OccurredAt), CursorValue.Of(after.Id)];
        var rows = await ListAuditLog.QueryAsync(
            connection, filter, new KeysetPage<ListAuditLog.AuditRow>(NewestFirst, position, limit), CancellationToken.None);
        return rows.Take(limit).ToList();
    }

    [Fact]
    public async Task PagesFollowEachOtherWithoutGapsOrRepeatsEvenWhenEntriesShareTheirTime()
    {
        var resource = Guid.CreateVersion7().ToString();
        var first = await WriteTogetherAsync([.. Enumerable.Range(0, 5).Select(_ => Entry("task.update", resource))]);
        var second = await WriteTogetherAsync([.. Enumerable.Range(0, 4).Select(_ => Entry("task.update", resource))]);
        var filter = new AuditLogFilter(ResourceType: "task", ResourceId: resource);

        var seen = new List<Guid>();
        ListAuditLog.AuditRow? after = null;
        while (true)
        {
            var page = await QueryAsync(filter, after, limit: 2);
            seen.AddRange(page.Select(row => row.Id));
            if (page.Count < 2)
                break;
            after = page[^1];
        }

        // Newest first: the later transaction's entries, then the earlier's, each group by id descending.
        Assert.Equal([.. second.OrderDescending(), .. first.OrderDescending()], seen);
    }

    [Fact]
    public async Task EachFilterSelectsOnlyItsEntries()
    {
        var resource = Guid.CreateVersion7().ToString();
        var alice = Guid.CreateVersion7();
        var bob = Guid.CreateVersion7();
        var ids = await WriteTogetherAsync(
            Entry("task.create", resource, alice),
            Entry("task.delete", resource, bob),
            Entry("auth.login", alice.ToString(), alice),
            Entry("task.delete", "other-task", alice));

        // One transaction, one occurred_at: the id orders them (UUIDv7 is random within a millisecond, so not creation order).
        static IEnumerable<Guid> Newest(params Guid[] ids) => ids.OrderDescending();
        Assert.Equal(Newest(ids[0], ids[2], ids[3]), (await QueryAsync(new AuditLogFilter(UserId: alice))).Select(row => row.Id));
        Assert.Equal(Newest(ids[1], ids[3]), (await QueryAsync(new AuditLogFilter(Action: "task.delete"))).Select(row => row.Id));
        Assert.Equal(Newest(ids[0], ids[1]), (await QueryAsync(new AuditLogFilter(ResourceType: "task", ResourceId: resource))).Select(row => row.Id));
        Assert.Equal([ids[1]], (await QueryAsync(new AuditLogFilter(UserId: bob, Action: "task.delete", ResourceId: resource))).Select(row => row.Id));
    }

    [Fact]
    public async Task FromIsInclusiveAndToIsExclusive()
    {
        var resource = Guid.CreateVersion7().ToString();
        await using (var insert = DataSource.CreateCommand("""
            INSERT INTO audit_log (id, occurred_at, action, resource_type, resource_id)
            SELECT gen_random_uuid(), timestamptz '2026-01-01T00:00:00Z' + make_interval(hours => h), 'task.update', 'task', $1
            FROM generate_series(0, 4) AS h
            """))
        {
            insert.Parameters.AddWithValue(resource);
            await insert.ExecuteNonQueryAsync();
        }
        var from = new DateTime(2026, 1, 1, 1, 0, 0, DateTimeKind.Utc);

        var rows = await QueryAsync(new AuditLogFilter(ResourceId: resource, From: from, To: from.AddHours(2)));

        Assert.Equal([from.AddHours(1), from], rows.Select(row => row.OccurredAt));
    }
}

/// <summary>GET /api/v1/audit-log over HTTP: admins only, strict parameters, cursors bound to their filters.</summary>
public sealed class ListAuditLogTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private const string Path = "/api/v1/audit-log";

    /// <summary>Entries of one fresh resource, written as a slice would write them; returns their ids, oldest first.</summary>
    private async Task<(string ResourceId, List<Guid> Ids)> ArrangeEntriesAsync(int count, string action = "task.update")
    {
        var resourceId = Guid.CreateVersion7().ToString();
        var ids = new List<Guid>();
        await using var connection = new NpgsqlConnection(service.ConnectionString);
        await connection.OpenAsync();
        for (var i = 0; i < count; i++)
        {
            var entry = new AuditEntry(action, "task", resourceId,
                new AuditActor(Guid.CreateVersion7(), null, IPAddress.Parse("192.0.2.10"), $"req-{i}"),
                new AuditDiff().Change("priority", i, i + 1).ToJson());
            ids.Add(await AuditWriter.WriteAsync(connection, null, entry, CancellationToken.None));
        }
        return (resourceId, ids);
    }

    [Fact]
    public async Task OnlyAdminsMayReadTheTrail()
    {
        using var anonymous = service.CreateClient();
        using var member = await service.ClientForNewUserAsync(Roles.Member);

        using var unauthenticated = await anonymous.GetAsync(Path);
        using var forbidden = await member.GetAsync(Path);

        await unauthenticated.AssertProblemAsync(HttpStatusCode.Unauthorized);
        await forbidden.AssertProblemAsync(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task AnAdminFollowsLinkHeadersThroughEveryPageToTheEnd()
    {
        var (resourceId, ids) = await ArrangeEntriesAsync(5);
        using var admin = await service.ClientForNewUserAsync(Roles.Admin);

        var seen = new List<Guid>();
        var pages = 0;
        string? next = $"{Path}?resource_type=task&resource_id={resourceId}&limit=2";
        while (next is not null)
        {
            using var response = await admin.GetAsync(next);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var body = await response.ReadJsonAsync();
            seen.AddRange(body.GetProperty("data").EnumerateArray().Select(entry => entry.GetProperty("id").GetGuid()));
            var hasMore = body.GetProperty("has_more").GetBoolean();
            var cursor = body.GetProperty("next_cursor");
            Assert.Equal(hasMore, cursor.ValueKind == JsonValueKind.String);
            next = response.Headers.TryGetValues("Link", out var links) ? links.Single() : null;
            Assert.Equal(hasMore, next is not null);
            if (next is not null)
            {
                Assert.EndsWith("; rel=\"next\"", next);
                next = new Uri(next[1..next.IndexOf('>', StringComparison.Ordinal)]).PathAndQuery;
                Assert.Contains($"cursor={cursor.GetString()}", next);
            }
            pages++;
        }

        Assert.Equal(3, pages);
        Assert.Equal(Enumerable.Reverse(ids), seen);
    }

    [Fact]
    public async Task AnEntryShowsWhoDidWhatFromWhereWithItsDiff()
    {
        var (resourceId, ids) = await ArrangeEntriesAsync(1, "task.delete");
        using var admin = await service.ClientForNewUserAsync(Roles.Admin);

        using var response = await admin.GetAsync($"{Path}?action=task.delete&resource_id={resourceId}&resource_type=task");

        var entry = Assert.Single((await response.ReadJsonAsync()).GetProperty("data").EnumerateArray());
        Assert.Equal(ids[0], entry.GetProperty("id").GetGuid());
        Assert.Equal("task.delete", entry.GetProperty("action").GetString());
        Assert.Equal("task", entry.GetProperty("resource_type").GetString());
        Assert.Equal(resourceId, entry.GetProperty("resource_id").GetString());
        Assert.Equal("192.0.2.10", entry.GetProperty("ip").GetString());
        Assert.Equal("req-0", entry.GetProperty("request_id").GetString());
        Assert.Equal(JsonValueKind.String, entry.GetProperty("actor_user_id").ValueKind);
        Assert.Equal(1, entry.GetProperty("diff").GetProperty("priority").GetProperty("to").GetInt32());
        Assert.EndsWith("Z", entry.GetProperty("occurred_at").GetString());
    }

    [Fact]
    public async Task ACursorUsedWithOtherFiltersIsA400NamingTheCursor()
    {
        var (resourceId, _) = await ArrangeEntriesAsync(3);
        using var admin = await service.ClientForNewUserAsync(Roles.Admin);
        using var first = await admin.GetAsync($"{Path}?resource_id={resourceId}&limit=1");
        var cursor = (await first.ReadJsonAsync()).GetProperty("next_cursor").GetString();

        using var response = await admin.GetAsync($"{Path}?resource_id={resourceId}&action=task.update&limit=1&cursor={cursor}");

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.Equal([CursorCodec.OtherQuery], problem.Errors("cursor"));
    }

    [Fact]
    public async Task AForgedCursorIsA400NamingTheCursor()
    {
        var (resourceId, _) = await ArrangeEntriesAsync(3);
        using var admin = await service.ClientForNewUserAsync(Roles.Admin);
        using var first = await admin.GetAsync($"{Path}?resource_id={resourceId}&limit=1");
        var cursor = (await first.ReadJsonAsync()).GetProperty("next_cursor").GetString()!;
        var forged = cursor[..10] + (cursor[10] == 'x' ? 'y' : 'x') + cursor[11..];

        using var tampered = await admin.GetAsync($"{Path}?resource_id={resourceId}&limit=1&cursor={forged}");
        using var garbage = await admin.GetAsync($"{Path}?cursor=%7B%22id%22%3A1%7D");

        Assert.Equal([CursorCodec.Invalid], (await tampered.AssertProblemAsync(HttpStatusCode.BadRequest)).Errors("cursor"));
        Assert.Equal([CursorCodec.Invalid], (await garbage.AssertProblemAsync(HttpStatusCode.BadRequest)).Errors("cursor"));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("201")]
    [InlineData("-1")]
    [InlineData("ten")]
    public async Task ALimitOutside1To200IsA400NamingLimit(string limit)
    {
        using var admin = await service.ClientForNewUserAsync(Roles.Admin);

        using var response = await admin.GetAsync($"{Path}?limit={limit}");

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.Equal(["must be an integer from 1 to 200"], problem.Errors("limit"));
    }

    [Fact]
    public async Task EveryMalformedParameterIsReportedByNameAtOnce()
    {
        using var admin = await service.ClientForNewUserAsync(Roles.Admin);

        using var response = await admin.GetAsync($"{Path}?from=yesterday&to=2026-13-01&user_id=alice&action=Delete&limit=0");

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.Equal(
            ["action", "from", "limit", "to", "user_id"],
            problem.GetProperty("errors").EnumerateObject().Select(error => error.Name).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task FieldsSelectsWhatEachEntryCarries()
    {
        var (resourceId, ids) = await ArrangeEntriesAsync(2);
        using var admin = await service.ClientForNewUserAsync(Roles.Admin);

        using var response = await admin.GetAsync($"{Path}?resource_id={resourceId}&fields=action,id");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(
            $$"""{"data":[{"id":"{{ids[1]}}","action":"task.update"},{"id":"{{ids[0]}}","action":"task.update"}],"next_cursor":null,"has_more":false}""",
            await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task TheTrailHasOneOrderAndEveryBadListParameterIsA400NamingIt()
    {
        using var admin = await service.ClientForNewUserAsync(Roles.Admin);

        using var oldestFirst = await admin.GetAsync($"{Path}?sort=occurred_at");
        using var bad = await admin.GetAsync($"{Path}?sort=occurred_at,occurred_at&fields=id,password_hash&limit=0");
        using var newestFirst = await admin.GetAsync($"{Path}?sort=-occurred_at&limit=1");

        Assert.Equal(["this list has one order: -occurred_at"], (await oldestFirst.AssertProblemAsync(HttpStatusCode.BadRequest)).Errors("sort"));
        var problem = await bad.AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.Equal(
            ["fields", "limit", "sort"],
            problem.GetProperty("errors").EnumerateObject().Select(error => error.Name).Order(StringComparer.Ordinal));
        Assert.Contains("password_hash", Assert.Single(problem.Errors("fields")));
        Assert.Equal(HttpStatusCode.OK, newestFirst.StatusCode);
    }

    [Fact]
    public async Task AnUnchangedPageRevalidatesWith304AndAChangedOneDoesNot()
    {
        var (resourceId, _) = await ArrangeEntriesAsync(1);
        using var admin = await service.ClientForNewUserAsync(Roles.Admin);
        var page = $"{Path}?resource_id={resourceId}";
        using var first = await admin.GetAsync(page);
        var tag = first.Headers.ETag!;

        using var unchanged = new HttpRequestMessage(HttpMethod.Get, page) { Headers = { IfNoneMatch = { tag } } };
        using var notModified = await admin.SendAsync(unchanged);
        await using (var connection = new NpgsqlConnection(service.ConnectionString))
        {
            await connection.OpenAsync();
            await AuditWriter.WriteAsync(connection, null,
                new AuditEntry("task.update", "task", resourceId, new AuditActor(null, null, null, null)), CancellationToken.None);
        }
        using var changed = new HttpRequestMessage(HttpMethod.Get, page) { Headers = { IfNoneMatch = { tag } } };
        using var modified = await admin.SendAsync(changed);

        Assert.True(tag.IsWeak);
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
        Assert.Equal(HttpStatusCode.OK, modified.StatusCode);
        Assert.NotEqual(tag, modified.Headers.ETag);
    }

    [Fact]
    public async Task TheOpenApiDocumentDescribesThePageShapeAndThe304()
    {
        using var anonymous = service.CreateClient();

        using var response = await anonymous.GetAsync("/openapi/v1.json");

        var responses = (await response.ReadJsonAsync()).GetProperty("paths").GetProperty(Path).GetProperty("get").GetProperty("responses");
        Assert.True(responses.TryGetProperty("304", out _));
        var schema = responses.GetProperty("200").GetProperty("content").GetProperty("application/json").GetProperty("schema");
        Assert.Contains("AuditEntryResponse", schema.GetProperty("$ref").GetString());
    }

    [Fact]
    public async Task AnEmptyTrailIsAnEmptyLastPage()
    {
        using var admin = await service.ClientForNewUserAsync(Roles.Admin);

        using var response = await admin.GetAsync($"{Path}?resource_id={Guid.CreateVersion7()}");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("""{"data":[],"next_cursor":null,"has_more":false}""", await response.Content.ReadAsStringAsync());
        Assert.False(response.Headers.Contains("Link"));
    }
}
