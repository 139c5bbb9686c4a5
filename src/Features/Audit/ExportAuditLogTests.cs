using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Npgsql;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Audit;

public sealed class ExportAuditLogTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private const string Path = "/api/v1/audit-log/export";

    /// <summary>Entries of one fresh resource; returns it and their ids, oldest first.</summary>
    private async Task<(string ResourceId, List<Guid> Ids)> ArrangeEntriesAsync(int count)
    {
        var resourceId = Guid.CreateVersion7().ToString();
        var ids = new List<Guid>();
        await using var connection = new NpgsqlConnection(service.ConnectionString);
        await connection.OpenAsync();
        for (var i = 0; i < count; i++)
            ids.Add(await AuditWriter.WriteAsync(connection, null,
                new AuditEntry("task.update", "task", resourceId, new AuditActor(null, null, null, $"req-{i}")), CancellationToken.None));
        return (resourceId, ids);
    }

    [Fact]
    public async Task AnAdminExportsTheFilteredTrailNewestFirstAsNdjsonOrCsv()
    {
        var (resourceId, ids) = await ArrangeEntriesAsync(3);
        using var admin = await service.ClientForNewUserAsync(Roles.Admin);

        using var ndjson = await admin.GetAsync($"{Path}?resource_id={resourceId}");
        using var csvRequest = new HttpRequestMessage(HttpMethod.Get, $"{Path}?resource_id={resourceId}&fields=id,request_id");
        csvRequest.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/csv"));
        using var csv = await admin.SendAsync(csvRequest);

        Assert.Equal("application/x-ndjson", ndjson.Content.Headers.ContentType!.MediaType);
        Assert.Equal(Enumerable.Reverse(ids).Select(id => id.ToString()),
            (await ndjson.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(line => JsonDocument.Parse(line).RootElement.GetProperty("id").GetString()));
        Assert.Equal($"id,request_id\r\n{ids[2]},req-2\r\n{ids[1]},req-1\r\n{ids[0]},req-0\r\n", await csv.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task OnlyAdminsExportAndBadFiltersAre400()
    {
        using var member = await service.ClientForNewUserAsync(Roles.Member);
        using var admin = await service.ClientForNewUserAsync(Roles.Admin);

        using var forbidden = await member.GetAsync(Path);
        using var malformed = await admin.GetAsync($"{Path}?action=Nope&limit=5");

        await forbidden.AssertProblemAsync(HttpStatusCode.Forbidden);
        var problem = await malformed.AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.NotEmpty(problem.Errors("action"));
        Assert.NotEmpty(problem.Errors("limit"));
    }
}
