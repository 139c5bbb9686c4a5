using Microsoft.AspNetCore.Http;
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
    public void AFullPageLinksToTheNextKeepingEveryOtherParameter()
    {
        var http = Request("?action=task.delete&cursor=old&limit=2&resource_type=task");

        var page = Lists.Page(http, [1, 2, 3], 2, number => number * 10, number => $"after-{number}");

        Assert.Equal(new[] { 10, 20 }, page.Data);
        Assert.True(page.HasMore);
        Assert.Equal("after-2", page.NextCursor);
        Assert.Equal(
            "<https://api.example.test/api/v1/audit-log?action=task.delete&limit=2&resource_type=task&cursor=after-2>; rel=\"next\"",
            http.Response.Headers.Link.ToString());
    }

    [Fact]
    public void TheLastPageHasNoNextCursorAndNoLink()
    {
        var http = Request("?limit=2");

        var page = Lists.Page(http, [1, 2], 2, number => number, number => $"after-{number}");

        Assert.Equal(new[] { 1, 2 }, page.Data);
        Assert.False(page.HasMore);
        Assert.Null(page.NextCursor);
        Assert.False(http.Response.Headers.ContainsKey("Link"));
    }

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
