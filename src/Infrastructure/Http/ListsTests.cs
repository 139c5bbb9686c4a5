using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using TaskRunner.Infrastructure.Database;
using Xunit;

namespace TaskRunner.Infrastructure.Http;

public sealed class ListsTests
{
    [Theory]
    [InlineData(null, 50)]
    [InlineData("1", 1)]
    [InlineData("200", 200)]
    public void AValidLimitIsUsedAndAnAbsentOneDefaultsTo50(string? value, int expected)
    {
        var errors = new ValidationErrors();

        Assert.Equal(expected, Lists.Limit(value, 200, errors));
        Assert.True(errors.IsEmpty);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("201")]
    [InlineData("-1")]
    [InlineData("ten")]
    [InlineData("1.5")]
    [InlineData(" 5")]
    [InlineData("")]
    [InlineData("99999999999")]
    public void AnyOtherLimitIsAnErrorNamingLimit(string value)
    {
        var errors = new ValidationErrors();

        Lists.Limit(value, 200, errors);

        Assert.False(errors.IsEmpty);
        var problem = (HttpValidationProblemDetails)errors.ToQueryProblem().ProblemDetails;
        Assert.Equal(400, problem.Status);
        Assert.Equal(new[] { "must be an integer from 1 to 200" }, problem.Errors["limit"]);
    }

    [Fact]
    public void TheDefaultLimitNeverExceedsAConfiguredMaximum()
    {
        Assert.Equal(20, Lists.Limit(null, 20, new ValidationErrors()));
    }

    [Fact]
    public async Task AFullPageLinksToTheNextKeepingEveryOtherParameter()
    {
        var (http, result) = Execute("?title=beta&cursor=old&limit=2", Rows(3), new Things.Query(Limit: "2"));

        var body = await ExecuteAsync(http, result);

        Assert.Equal(2, result.Data.Count);
        Assert.True(result.HasMore);
        Assert.Contains($"\"next_cursor\":\"{result.NextCursor}\",\"has_more\":true}}", body);
        Assert.Equal(
            $"<https://api.example.test/api/v1/things?title=beta&limit=2&cursor={result.NextCursor}>; rel=\"next\"",
            http.Response.Headers.Link.ToString());
    }

    [Fact]
    public async Task TheLastPageHasNoNextCursorAndNoLink()
    {
        var (http, result) = Execute("?limit=2", Rows(2), new Things.Query(Limit: "2"));

        var body = await ExecuteAsync(http, result);

        Assert.EndsWith("],\"next_cursor\":null,\"has_more\":false}", body);
        Assert.False(http.Response.Headers.ContainsKey("Link"));
    }

    [Fact]
    public async Task WithoutFieldsEachItemIsWholeAndItsNullsOmittedAsEverywhere()
    {
        var (http, result) = Execute("", Rows(1), new Things.Query());

        var body = await ExecuteAsync(http, result);

        var item = JsonDocument.Parse(body).RootElement.GetProperty("data")[0];
        Assert.Equal(["id", "priority", "created_at", "title"], item.EnumerateObject().Select(property => property.Name));
        Assert.Equal("application/json; charset=utf-8", http.Response.ContentType);
    }

    [Fact]
    public async Task FieldsWritesOnlyTheSelectedFieldsInTheTypesOrderEachPresentEvenWhenNull()
    {
        var (http, result) = Execute("", Rows(1), new Things.Query(Fields: "due_at,title,title"));

        var body = await ExecuteAsync(http, result);

        Assert.StartsWith("""{"data":[{"title":"task 0","due_at":null}]""", body);
    }

    [Theory]
    [InlineData("id,secret", "has no field 'secret'; fields: id, priority, created_at, title, due_at")]
    [InlineData("id,", "has an empty name; write field names separated by commas")]
    [InlineData("", "has an empty name; write field names separated by commas")]
    public void AnUnknownFieldIsAnErrorNamingFields(string fields, string message)
    {
        var errors = new ValidationErrors();

        Assert.Null(Things.Paging().Parse(new Things.Query(Fields: fields), Things.Definition, Things.Filters(), errors));

        Assert.Equal([message], Problem(errors)["fields"]);
    }

    [Fact]
    public void EveryMalformedListParameterIsReportedAtOnce()
    {
        var errors = new ValidationErrors();

        Things.Paging().Parse(new Things.Query("nope", "nope", "0", "forged"), Things.Definition, Things.Filters(), errors);

        // The cursor is judged only against an otherwise valid request.
        Assert.Equal(["fields", "limit", "sort"], Problem(errors).Keys.Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("forged")]
    [InlineData("AAAA")]
    public void AForgedCursorIsAnErrorNamingCursor(string cursor)
    {
        var errors = new ValidationErrors();

        Assert.Null(Things.Paging().Parse(new Things.Query(Cursor: cursor), Things.Definition, Things.Filters(), errors));

        Assert.Equal([CursorCodec.Invalid], Problem(errors)["cursor"]);
    }

    [Fact]
    public async Task ARepeatedRequestWithTheETagOfAnUnchangedPageIs304WithoutBody()
    {
        var (first, firstResult) = Execute("", Rows(2), new Things.Query());
        await ExecuteAsync(first, firstResult);
        var tag = first.Response.Headers.ETag.ToString();

        var (again, againResult) = Execute("", Rows(2), new Things.Query());
        again.Request.Headers.IfNoneMatch = tag;
        var body = await ExecuteAsync(again, againResult);
        var (changed, changedResult) = Execute("", Rows(3), new Things.Query());
        changed.Request.Headers.IfNoneMatch = tag;
        await ExecuteAsync(changed, changedResult);

        Assert.StartsWith("W/\"", tag);
        Assert.Equal(304, again.Response.StatusCode);
        Assert.Equal("", body);
        Assert.Equal(tag, again.Response.Headers.ETag.ToString());
        Assert.Equal(200, changed.Response.StatusCode);
        Assert.NotEqual(tag, changed.Response.Headers.ETag.ToString());
    }

    private static readonly DateTime Start = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    /// <summary>The same rows on every call, as the page's SQL returns them: sorted newest first, the default sort.</summary>
    private static List<Thing> Rows(int count) =>
        [.. Enumerable.Range(0, count).Select(i => new Thing(new Guid($"00000000-0000-7000-8000-{i:D12}"), i, Start.AddMinutes(-i), $"task {i}", null))];

    private static (DefaultHttpContext Http, ListResult<Thing> Result) Execute(string queryString, List<Thing> rows, Things.Query query)
    {
        var errors = new ValidationErrors();
        var page = Things.Paging().Parse(query, Things.Definition, Things.Filters(), errors);
        Assert.True(errors.IsEmpty);
        var http = Request(queryString);
        http.Request.Path = "/api/v1/things";
        return (http, page!.Result(rows, row => row));
    }

    private static async Task<string> ExecuteAsync(DefaultHttpContext http, ListResult<Thing> result)
    {
        var body = new MemoryStream();
        http.Response.Body = body;
        await result.ExecuteAsync(http);
        return Encoding.UTF8.GetString(body.ToArray());
    }

    private static IDictionary<string, string[]> Problem(ValidationErrors errors) =>
        ((HttpValidationProblemDetails)errors.ToQueryProblem().ProblemDetails).Errors;

    [Theory]
    [InlineData("2026-01-31T12:00:00Z", "2026-01-31T12:00:00.0000000Z")]
    [InlineData("2026-01-31T12:00:00.123456Z", "2026-01-31T12:00:00.1234560Z")]
    [InlineData("2026-01-31T14:00:00+02:00", "2026-01-31T12:00:00.0000000Z")]
    [InlineData("2026-01-31", "2026-01-31T00:00:00.0000000Z")]
    public void TimestampsAreRfc3339OrDatesReadAsUtc(string value, string expected)
    {
        var errors = new ValidationErrors();

        var parsed = QueryParameters.Timestamp(value, "from", errors);

        Assert.True(errors.IsEmpty);
        Assert.Equal(DateTimeKind.Utc, parsed!.Value.Kind);
        Assert.Equal(expected, parsed.Value.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
    }

    [Theory]
    [InlineData("yesterday")]
    [InlineData("31/01/2026")]
    [InlineData("2026-13-01")]
    public void AMalformedTimestampIsAnErrorNamingTheParameter(string value)
    {
        var errors = new ValidationErrors();

        Assert.Null(QueryParameters.Timestamp(value, "from", errors));
        Assert.False(errors.IsEmpty);
    }

    private static DefaultHttpContext Request(string query)
    {
        var http = new DefaultHttpContext();
        http.Request.Scheme = "https";
        http.Request.Host = new HostString("api.example.test");
        http.Request.Path = "/api/v1/audit-log";
        http.Request.QueryString = new QueryString(query);
        return http;
    }
}
