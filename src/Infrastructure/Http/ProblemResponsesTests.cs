using System.Net;
using System.Text;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Http;

public sealed class ProblemResponsesTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private readonly HttpClient client = service.CreateClient();

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    [Fact]
    public async Task UnknownRouteIsA404Problem()
    {
        using var response = await client.GetAsync("/api/v1/no-such-thing");

        var problem = await response.AssertProblemAsync(HttpStatusCode.NotFound);
        Assert.Equal("/api/v1/no-such-thing", problem.GetProperty("instance").GetString());
    }

    [Fact]
    public async Task WrongMethodIsA405ProblemWithAllow()
    {
        using var response = await client.DeleteAsync("/health/live");

        await response.AssertProblemAsync(HttpStatusCode.MethodNotAllowed);
        Assert.Contains("GET", response.Content.Headers.Allow);
    }

    [Fact]
    public async Task ASaneRequestIdIsKeptAndEchoed()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/missing");
        request.Headers.Add("X-Request-ID", "client-req.42:abc");

        using var response = await client.SendAsync(request);

        var problem = await response.AssertProblemAsync(HttpStatusCode.NotFound);
        Assert.Equal("client-req.42:abc", problem.GetProperty("request_id").GetString());
    }

    [Theory]
    [InlineData("has spaces in it")]
    [InlineData("semi;colon")]
    public async Task AnInsaneRequestIdIsReplacedByAGeneratedOne(string requestId)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/health/live");
        request.Headers.TryAddWithoutValidation("X-Request-ID", requestId);

        using var response = await client.SendAsync(request);

        var echoed = response.Headers.GetValues("X-Request-ID").Single();
        Assert.NotEqual(requestId, echoed);
        Assert.Matches("^[0-9a-f]{32}$", echoed);
    }

    [Fact]
    public async Task ARequestIdLongerThan128CharactersIsReplaced()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/health/live");
        request.Headers.Add("X-Request-ID", new string('a', 129));

        using var response = await client.SendAsync(request);

        Assert.Matches("^[0-9a-f]{32}$", response.Headers.GetValues("X-Request-ID").Single());
    }

    [Fact]
    public async Task AnIncomingTraceparentBecomesTheTraceIdOfTheRequest()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/missing");
        request.Headers.Add("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");

        using var response = await client.SendAsync(request);

        var problem = await response.AssertProblemAsync(HttpStatusCode.NotFound);
        Assert.Equal("0af7651916cd43dd8448eb211c80319c", problem.GetProperty("trace_id").GetString());
    }

    [Fact]
    public async Task EveryResponseCarriesTheSecurityHeaders()
    {
        using var response = await client.GetAsync("/health/live");

        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Equal("DENY", response.Headers.GetValues("X-Frame-Options").Single());
        Assert.Equal("no-referrer", response.Headers.GetValues("Referrer-Policy").Single());
        Assert.Contains("default-src 'none'", response.Headers.GetValues("Content-Security-Policy").Single());
        Assert.False(response.Headers.Contains("Server"));
    }

    [Fact]
    public async Task CorsIsOffUnlessConfigured()
    {
        using var request = new HttpRequestMessage(HttpMethod.Options, "/health/live");
        request.Headers.Add("Origin", "https://evil.example");
        request.Headers.Add("Access-Control-Request-Method", "GET");

        using var response = await client.SendAsync(request);

        Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task JsonIsCompressedWhenTheClientAcceptsIt()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/openapi/v1.json");
        request.Headers.Add("Accept-Encoding", "br");

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("br", response.Content.Headers.ContentEncoding.Single());
    }

    [Fact]
    [Trait(TestMode.Trait, TestMode.InProcessOnly)]
    public async Task MalformedJsonIsA400SayingWhere()
    {
        using var response = await client.PostAsync(TestEndpoints.Echo, Json("""{"title": "x", "priority": """));

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.Contains("not valid JSON", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task InvalidUtf8InsideFreeJsonIsA400NotAServerError()
    {
        // Free JSON (output, metadata) is bound as a JsonElement, whose strings System.Text.Json does not check until read.
        using var project = await service.CreateProjectAsync();
        var body = new List<byte>(Encoding.UTF8.GetBytes("""{"status":"succeeded","output":{"note":"a"""));
        body.AddRange([0xff, 0xfe]);
        body.AddRange(Encoding.UTF8.GetBytes("\"}}"));
        using var content = new ByteArrayContent([.. body]);
        content.Headers.ContentType = new("application/json");

        using var response = await project.OwnerClient.PostAsync($"/api/v1/tasks/{Guid.CreateVersion7()}/complete", content);

        await response.AssertProblemAsync(HttpStatusCode.BadRequest);
    }

    [Fact]
    [Trait(TestMode.Trait, TestMode.InProcessOnly)]
    public async Task AValueOfTheWrongTypeIsA400NamingTheField()
    {
        using var response = await client.PostAsync(TestEndpoints.Echo, Json("""{"title": "x", "priority": "high"}"""));

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.Equal(["has the wrong type for this field"], problem.Errors("priority"));
    }

    [Fact]
    [Trait(TestMode.Trait, TestMode.InProcessOnly)]
    public async Task ANestedValueOfTheWrongTypeIsNamedByItsPath()
    {
        using var response = await client.PostAsync(TestEndpoints.Echo,
            Json("""{"title": "x", "priority": 1, "items": [{"name": "a"}, {"name": 7}]}"""));

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.Equal(["has the wrong type for this field"], problem.Errors("items[1].name"));
    }

    [Fact]
    [Trait(TestMode.Trait, TestMode.InProcessOnly)]
    public async Task AnUnknownPropertyIsA422NamingIt()
    {
        using var response = await client.PostAsync(TestEndpoints.Echo, Json("""{"title": "x", "priority": 1, "prioritty": 2}"""));

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal(["is not a known property"], problem.Errors("prioritty"));
    }

    [Fact]
    [Trait(TestMode.Trait, TestMode.InProcessOnly)]
    public async Task AWellFormedBodyIsAccepted()
    {
        using var response = await client.PostAsync(TestEndpoints.Echo, Json("""{"title": "x", "priority": 1}"""));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("x", (await response.ReadJsonAsync()).GetProperty("title").GetString());
    }

    [Fact]
    [Trait(TestMode.Trait, TestMode.InProcessOnly)]
    public async Task AMissingBodyIsA400()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, TestEndpoints.Echo) { Content = Json("") };

        using var response = await client.SendAsync(request);

        await response.AssertProblemAsync(HttpStatusCode.BadRequest);
    }

    [Fact]
    [Trait(TestMode.Trait, TestMode.InProcessOnly)]
    public async Task AWrongMediaTypeIsA415()
    {
        using var response = await client.PostAsync(TestEndpoints.Echo,
            new StringContent("""{"title": "x", "priority": 1}""", Encoding.UTF8, "text/plain"));

        await response.AssertProblemAsync(HttpStatusCode.UnsupportedMediaType);
    }

    [Fact]
    [Trait(TestMode.Trait, TestMode.InProcessOnly)]
    public async Task ABodyLargerThanTheLimitIsA413()
    {
        var huge = "{\"title\": \"" + new string('x', 2 * 1024 * 1024) + "\", \"priority\": 1}";

        using var response = await client.PostAsync(TestEndpoints.Echo, Json(huge));

        await response.AssertProblemAsync(HttpStatusCode.RequestEntityTooLarge);
    }

    [Fact]
    [Trait(TestMode.Trait, TestMode.InProcessOnly)]
    public async Task AnUnhandledExceptionIsA500WithTheRequestIdAndNoInternals()
    {
        using var response = await client.GetAsync(TestEndpoints.Throw);

        var problem = await response.AssertProblemAsync(HttpStatusCode.InternalServerError);
        var text = problem.GetRawText();
        Assert.DoesNotContain("SELECT", text);
        Assert.DoesNotContain("InvalidOperationException", text);
        Assert.DoesNotContain("   at ", text);
    }
}
