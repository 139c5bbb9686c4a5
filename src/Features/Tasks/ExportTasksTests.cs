using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Tasks;

public sealed class ExportTasksTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    // The export's backends that are still inside its transaction (reading, or waiting for the client to take more).
    private const string ExportInProgressSql = """
        SELECT count(*) FROM pg_stat_activity
        WHERE datname = current_database() AND state <> 'idle' AND query LIKE 'FETCH FORWARD % FROM export_rows%'
        """;

    private static HttpRequestMessage Export(string query, string? accept = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/tasks/export" + query);
        if (accept is not null)
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(accept));
        return request;
    }

    /// <summary>Tasks titled bulk1, bulk2, …, each with <paramref name="padding"/> bytes of metadata (no index reads it).</summary>
    private Task InsertTasksAsync(TestProject project, int count, int padding = 0) => service.ExecuteSqlAsync(
        """
        INSERT INTO tasks (id, project_id, title, created_by, metadata)
        SELECT gen_random_uuid(), $1, 'bulk' || n, $2, jsonb_build_object('padding', repeat('x', $4))
        FROM generate_series(1, $3) n
        """,
        project.Id, project.Owner.Id, count, padding);

    [Fact]
    public async Task NdjsonIsTheDefaultWithOneLinePerMatchingReadableTask()
    {
        using var project = await service.CreateProjectAsync();
        using var other = await service.CreateProjectAsync();
        var first = await service.CreateTaskAsync(project, "first");
        var second = await service.CreateTaskAsync(project, "second");
        await service.CreateTaskAsync(other, "not readable by the first owner");

        using var response = await project.OwnerClient.SendAsync(Export(""));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/x-ndjson", response.Content.Headers.ContentType!.MediaType);
        var lines = (await response.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal([first.ToString(), second.ToString()], lines.Select(line => JsonDocument.Parse(line).RootElement.GetProperty("id").GetString()));
    }

    [Fact]
    public async Task TheListFiltersApplyAcrossManyFetches()
    {
        using var project = await service.CreateProjectAsync();
        await InsertTasksAsync(project, 2_500);
        await service.ExecuteSqlAsync("UPDATE tasks SET status = 'paused' WHERE project_id = $1 AND title IN ('bulk1', 'bulk2500')", project.Id);

        using var all = await project.OwnerClient.SendAsync(Export($"?project_id={project.Id}&fields=id", "application/x-ndjson"));
        using var paused = await project.OwnerClient.SendAsync(Export($"?project_id={project.Id}&status=paused&fields=title"));

        Assert.Equal(2_500, (await all.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries).Distinct().Count());
        Assert.Equal(["{\"title\":\"bulk1\"}", "{\"title\":\"bulk2500\"}"],
            (await paused.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task CsvHasAHeaderQuotesWhatNeedsItAndDefusesFormulas()
    {
        using var project = await service.CreateProjectAsync();
        var quoted = await service.CreateTaskAsync(project, "a, \"b\"");
        var formula = await service.CreateTaskAsync(project, "=HYPERLINK(\"x\")");

        using var response = await project.OwnerClient.SendAsync(Export("?fields=id,title,priority", "text/csv"));

        Assert.Equal("text/csv", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal(
            $"id,title,priority\r\n{quoted},\"a, \"\"b\"\"\",50\r\n{formula},\"'=HYPERLINK(\"\"x\"\")\",50\r\n",
            await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task PagingParametersAndUnknownFieldsAre400AndAnotherMediaTypeIs406()
    {
        using var project = await service.CreateProjectAsync();

        using var paged = await project.OwnerClient.SendAsync(Export("?limit=10&cursor=x&sort=title&fields=nope&status=nope"));
        using var xml = await project.OwnerClient.SendAsync(Export("", "application/xml"));

        var problem = await paged.AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.All(new[] { "limit", "cursor", "sort", "fields", "status" }, name => Assert.NotEmpty(problem.Errors(name)));
        await xml.AssertProblemAsync(HttpStatusCode.NotAcceptable);
    }

    [Fact]
    public async Task AClientThatDisconnectsMidStreamEndsTheDatabaseRead()
    {
        using var project = await service.CreateProjectAsync();
        // Far more than the socket buffers hold, so the server is still reading when the client leaves.
        await InsertTasksAsync(project, 20_000, padding: 1_000);

        using (var response = await project.OwnerClient.SendAsync(Export(""), HttpCompletionOption.ResponseHeadersRead))
        {
            await using var body = await response.Content.ReadAsStreamAsync();
            Assert.True(await body.ReadAsync(new byte[4096]) > 0);
            await Eventually.Until(async () => await service.ScalarAsync<long>(ExportInProgressSql) == 1,
                "the export is not reading while its client waits");
        }
        project.OwnerClient.CancelPendingRequests();

        await Eventually.Until(async () => await service.ScalarAsync<long>(ExportInProgressSql) == 0,
            "the export's cursor is still open after its client disconnected", TimeSpan.FromSeconds(10));
    }
}
