using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Database;

/// <summary>A row of the lists' test table; also its response, so the whole mechanism runs without a feature.</summary>
public sealed record Thing(Guid Id, int Priority, DateTime CreatedAt, string Title, DateTime? DueAt);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(Thing))]
public sealed partial class ThingJsonContext : JsonSerializerContext;

/// <summary>The list declaration, query and paging service the list tests share.</summary>
public static class Things
{
    public const string SelectSql = "SELECT id, priority, created_at, title, due_at FROM things";

    public static readonly ListDefinition<Thing, Thing> Definition = new(
        new SortKeys<Thing>("id", thing => thing.Id)
            .Number("priority", "priority", thing => thing.Priority)
            .Timestamp("created_at", "created_at", thing => thing.CreatedAt)
            .Text("title", "title", thing => thing.Title)
            .NullableTimestamp("due_at", "due_at", thing => thing.DueAt)
            .DefaultSort("-created_at"),
        new ResponseFields<Thing>(ThingJsonContext.Default.Thing));

    public sealed record Query(string? Sort = null, string? Fields = null, string? Limit = null, string? Cursor = null) : IListQuery;

    public static ListPaging Paging(int maxLimit = 200) => new(
        new CursorCodec(Options.Create(new CursorOptions { SigningKey = "dGVzdCBjdXJzb3Iga2V5IG9mIGF0IGxlYXN0IDMyIGJ5dGVz" })),
        Options.Create(new ListOptions { MaxLimit = maxLimit }));

    public static CursorBinding Filters(string? title = null) => new CursorBinding("things").With("title", title);

    public static KeysetSort<Thing> Sort(string? sort) => Definition.Sorts.Parse(sort, new ValidationErrors())!;
}

public sealed class SortKeysTests
{
    [Theory]
    [InlineData(null, "-created_at,-id")]
    [InlineData("priority", "priority,id")]
    [InlineData("-priority,created_at", "-priority,created_at,id")]
    [InlineData("title,-id", "title,-id")]
    [InlineData("-id", "-id")]
    public void ASortIsNormalisedWithTheIdAsFinalTieBreakerInTheLastKeysDirection(string? sort, string normalized)
    {
        var errors = new ValidationErrors();

        Assert.Equal(normalized, Things.Definition.Sorts.Parse(sort, errors)!.Normalized);
        Assert.True(errors.IsEmpty);
    }

    [Theory]
    [InlineData("secret", "cannot sort by 'secret'; sortable: id, priority, created_at, title, due_at")]
    [InlineData("priority,-priority", "names 'priority' twice")]
    [InlineData("priority,,title", "has an empty key; write keys separated by commas, each with an optional - for descending")]
    [InlineData("", "has an empty key; write keys separated by commas, each with an optional - for descending")]
    [InlineData("id,title", "puts a key after id: ids are unique, so id can only be the last key")]
    [InlineData("created_at;DROP TABLE users", "cannot sort by 'created_at;DROP TABLE users'; sortable: id, priority, created_at, title, due_at")]
    public void AnyOtherSortIsAnErrorNamingSort(string sort, string message)
    {
        var errors = new ValidationErrors();

        Assert.Null(Things.Definition.Sorts.Parse(sort, errors));
        Assert.Equal([message], Errors(errors, "sort"));
    }

    [Fact]
    public void EveryBadKeyIsReportedAtOnce()
    {
        var errors = new ValidationErrors();

        Things.Definition.Sorts.Parse("nope,priority,-priority,", errors);

        Assert.Equal(3, Errors(errors, "sort").Length);
    }

    [Fact]
    public void AListWithOneOrderAcceptsOnlyThatOrder()
    {
        var sorts = new SortKeys<Thing>("id", thing => thing.Id).Timestamp("created_at", "created_at", thing => thing.CreatedAt)
            .FixedSort("-created_at");
        var errors = new ValidationErrors();

        Assert.Equal("-created_at,-id", sorts.Parse(null, errors)!.Normalized);
        Assert.Equal("-created_at,-id", sorts.Parse("-created_at", errors)!.Normalized);
        Assert.Null(sorts.Parse("created_at", errors));
        Assert.Equal(["this list has one order: -created_at"], Errors(errors, "sort"));
    }

    [Fact]
    public void ADefaultSortOfUndeclaredKeysFailsAtDeclaration()
    {
        Assert.Throws<ArgumentException>(() => new SortKeys<Thing>("id", thing => thing.Id).DefaultSort("-created_at"));
    }

    [Fact]
    public void OneDirectionReadsARowComparisonThatACompositeIndexAnswers()
    {
        var command = Complete(Things.Sort("-created_at"), [CursorValue.Of(DateTime.UnixEpoch), CursorValue.Of(Guid.Empty)]);

        Assert.Equal($"""
            {Things.SelectSql}
            WHERE (created_at, id) < (@after_0, @after_1)
            ORDER BY created_at DESC, id DESC
            LIMIT @page_limit
            """, command.CommandText);
        Assert.Equal(["after_0", "after_1", "page_limit"], command.Parameters.Select(parameter => parameter.ParameterName));
        Assert.Equal(11, command.Parameters["page_limit"].Value);
    }

    [Fact]
    public void MixedDirectionsReadTheExpandedFormFromConstantFragmentsAndParameters()
    {
        var command = Complete(Things.Sort("-priority,title"), [CursorValue.Of(5), CursorValue.Of("x'); DROP TABLE users; --"), CursorValue.Of(Guid.Empty)]);

        Assert.Equal($"""
            {Things.SelectSql}
            WHERE ((priority < @after_0) OR (priority = @after_0 AND title > @after_1) OR (priority = @after_0 AND title = @after_1 AND id > @after_2))
            ORDER BY priority DESC, title ASC, id ASC
            LIMIT @page_limit
            """, command.CommandText);
        Assert.Equal("x'); DROP TABLE users; --", command.Parameters["after_1"].Value);
    }

    [Fact]
    public void NullsSortLastInBothDirections()
    {
        var afterValue = Complete(Things.Sort("-due_at"), [CursorValue.Of(DateTime.UnixEpoch), CursorValue.Of(Guid.Empty)]);
        var afterNull = Complete(Things.Sort("-due_at"), [CursorValue.Null, CursorValue.Of(Guid.Empty)]);

        Assert.Contains("ORDER BY due_at DESC NULLS LAST, id DESC", afterValue.CommandText);
        Assert.Contains("WHERE (((due_at < @after_0 OR due_at IS NULL)) OR (due_at = @after_0 AND id < @after_1))", afterValue.CommandText);
        Assert.Contains("WHERE ((due_at IS NULL AND id < @after_1))", afterNull.CommandText);
        Assert.DoesNotContain("after_0", afterNull.Parameters.Select(parameter => parameter.ParameterName));
    }

    [Fact]
    public void TheFirstPageHasNoKeysetPredicate()
    {
        var command = Complete(Things.Sort("title"), null);

        Assert.DoesNotContain("WHERE", command.CommandText);
        Assert.EndsWith("ORDER BY title ASC, id ASC\nLIMIT @page_limit", command.CommandText.ReplaceLineEndings("\n"));
    }

    private static NpgsqlCommand Complete(KeysetSort<Thing> sort, CursorValue[]? after) =>
        new FilteredQuery(new NpgsqlCommand()).Complete(Things.SelectSql, new KeysetPage<Thing>(sort, after, 10));

    private static string[] Errors(ValidationErrors errors, string name) =>
        ((Microsoft.AspNetCore.Http.HttpValidationProblemDetails)errors.ToQueryProblem().ProblemDetails).Errors[name];
}

/// <summary>Paging through a real table with every kind of sort: each row exactly once, in the order asked for.</summary>
public sealed class KeysetPagingTests : DatabaseTest
{
    private NpgsqlConnection connection = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        connection = await DataSource.OpenConnectionAsync();
        // Few distinct values per key, so every page boundary falls inside a run of equal values; a third have no due date.
        await using var create = new NpgsqlCommand("""
            CREATE TEMP TABLE things (
                id         uuid PRIMARY KEY,
                priority   integer NOT NULL,
                created_at timestamptz NOT NULL,
                title      text NOT NULL,
                due_at     timestamptz
            );
            INSERT INTO things
            SELECT gen_random_uuid(), n % 3, timestamptz '2026-01-01T00:00:00Z' + make_interval(mins => n % 4),
                   (ARRAY['alpha', 'beta', 'Beta', 'gamma'])[n % 4 + 1],
                   CASE WHEN n % 3 = 0 THEN NULL ELSE timestamptz '2026-02-01T00:00:00Z' + make_interval(days => n % 5) END
            FROM generate_series(1, 47) AS n;
            """, connection);
        await create.ExecuteNonQueryAsync();
    }

    [Theory]
    [InlineData("-priority,created_at", "priority DESC, created_at ASC, id ASC")]
    [InlineData("priority,-title", "priority ASC, title DESC, id DESC")]
    [InlineData("-created_at", "created_at DESC, id DESC")]
    [InlineData("title", "title ASC, id ASC")]
    [InlineData("due_at,-priority", "due_at ASC NULLS LAST, priority DESC, id DESC")]
    [InlineData("-due_at,title", "due_at DESC NULLS LAST, title ASC, id ASC")]
    [InlineData("-due_at", "due_at DESC NULLS LAST, id DESC")]
    [InlineData("-id", "id DESC")]
    public async Task PagesVisitEveryRowExactlyOnceInTheSortedOrder(string sort, string independentOrder)
    {
        var expected = await IdsAsync($"SELECT id FROM things ORDER BY {independentOrder}");

        foreach (var limit in new[] { 1, 2, 5, 7, 50 })
        {
            var seen = new List<Guid>();
            string? cursor = null;
            var pages = 0;
            do
            {
                var page = await ReadPageAsync(new Things.Query(sort, Limit: limit.ToString(), Cursor: cursor));
                Assert.True(page.Data.Count <= limit);
                seen.AddRange(page.Data.Select(thing => thing.Id));
                cursor = page.NextCursor;
                pages++;
            }
            while (cursor is not null);

            Assert.Equal(expected, seen);
            Assert.Equal(Math.Max(1, (expected.Count + limit - 1) / limit), pages);
        }
    }

    [Fact]
    public async Task ACursorContinuesOnlyItsOwnSortAndFilters()
    {
        var first = await ReadPageAsync(new Things.Query("-priority", Limit: "3"));
        var paging = Things.Paging();

        var otherSort = new ValidationErrors();
        paging.Parse(new Things.Query("priority", Limit: "3", Cursor: first.NextCursor), Things.Definition, Things.Filters(), otherSort);
        var otherFilter = new ValidationErrors();
        paging.Parse(new Things.Query("-priority", Limit: "3", Cursor: first.NextCursor), Things.Definition, Things.Filters("beta"), otherFilter);
        var otherLimit = new ValidationErrors();
        var samePage = paging.Parse(new Things.Query("-priority", Limit: "4", Cursor: first.NextCursor), Things.Definition, Things.Filters(), otherLimit);

        Assert.Equal([CursorCodec.OtherQuery], Problem(otherSort)["cursor"]);
        Assert.Equal([CursorCodec.OtherQuery], Problem(otherFilter)["cursor"]);
        Assert.NotNull(samePage);
    }

    private async Task<ListResult<Thing>> ReadPageAsync(Things.Query query)
    {
        var errors = new ValidationErrors();
        var page = Things.Paging().Parse(query, Things.Definition, Things.Filters(), errors);
        Assert.True(errors.IsEmpty);
        await using var command = connection.CreateCommand();
        new FilteredQuery(command).Complete(Things.SelectSql, page!.Keyset);
        var rows = new List<Thing>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows.Add(new Thing(reader.GetGuid(0), reader.GetInt32(1), reader.GetFieldValue<DateTime>(2), reader.GetString(3),
                reader.IsDBNull(4) ? null : reader.GetFieldValue<DateTime>(4)));
        }
        return page.Result(rows, row => row);
    }

    private async Task<List<Guid>> IdsAsync(string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        var ids = new List<Guid>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
            ids.Add(reader.GetGuid(0));
        return ids;
    }

    private static IDictionary<string, string[]> Problem(ValidationErrors errors) =>
        ((Microsoft.AspNetCore.Http.HttpValidationProblemDetails)errors.ToQueryProblem().ProblemDetails).Errors;
}
