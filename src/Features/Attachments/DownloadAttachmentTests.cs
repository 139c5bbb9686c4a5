using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Attachments;

public sealed class DownloadAttachmentTests(DownloadAttachmentTests.ActiveTypesAllowed service)
    : IClassFixture<DownloadAttachmentTests.ActiveTypesAllowed>
{
    /// <summary>An operator who allows HTML and SVG: they are stored, but still never served inline.</summary>
    public sealed class ActiveTypesAllowed : ServiceFixture
    {
        protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
            base.Settings(connectionString).Concat(
            [
                new("Attachments:AllowedTypes", "text/plain,image/png,text/html,image/svg+xml,application/xml"),
            ]);
    }

    private static readonly byte[] Digits = AttachmentFiles.Text("0123456789");

    private async Task<(TestProject Project, string Id)> UploadedAsync(byte[] content, string filename)
    {
        var project = await service.CreateProjectAsync();
        var taskId = await service.CreateTaskAsync(project);
        using var response = await project.OwnerClient.UploadAsync(taskId, content, filename);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (project, (await response.ReadJsonAsync()).GetProperty("id").GetString()!);
    }

    private static async Task<HttpResponseMessage> GetAsync(HttpClient client, string id, string? range = null, string? ifNoneMatch = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/v1/attachments/{id}/download");
        if (range is not null)
            request.Headers.TryAddWithoutValidation("Range", range);
        if (ifNoneMatch is not null)
            request.Headers.TryAddWithoutValidation("If-None-Match", ifNoneMatch);
        return await client.SendAsync(request);
    }

    [Fact]
    public async Task ADownloadCarriesTheBytesTheirHashAsETagAndAnRfc6266Name()
    {
        var (project, id) = await UploadedAsync(Digits, "Grüße 2024.txt");
        using (project)
        {
            using var response = await GetAsync(project.OwnerClient, id);

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(Digits, await response.Content.ReadAsByteArrayAsync());
            Assert.Equal($"\"{Convert.ToHexStringLower(SHA256.HashData(Digits))}\"", response.Headers.ETag!.Tag);
            Assert.Equal("bytes", response.Headers.AcceptRanges.Single());
            Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
            Assert.Equal("text/plain", response.Content.Headers.ContentType!.MediaType);
            var disposition = response.Content.Headers.ContentDisposition!;
            Assert.Equal("inline", disposition.DispositionType);
            Assert.Equal("Grüße 2024.txt", disposition.FileNameStar);
            Assert.DoesNotContain(disposition.FileName!, character => character > 127);
        }
    }

    [Fact]
    public async Task TheSameETagInIfNoneMatchIs304()
    {
        var (project, id) = await UploadedAsync(Digits, "d.txt");
        using (project)
        {
            using var first = await GetAsync(project.OwnerClient, id);
            using var again = await GetAsync(project.OwnerClient, id, ifNoneMatch: first.Headers.ETag!.Tag);

            Assert.Equal(HttpStatusCode.NotModified, again.StatusCode);
            Assert.Empty(await again.Content.ReadAsByteArrayAsync());
        }
    }

    [Theory]
    [InlineData("bytes=2-4", "234", "bytes 2-4/10")]
    [InlineData("bytes=7-", "789", "bytes 7-9/10")]
    [InlineData("bytes=-2", "89", "bytes 8-9/10")]
    [InlineData("bytes=8-100", "89", "bytes 8-9/10")]
    public async Task OneByteRangeIs206WithItsContentRange(string range, string body, string contentRange)
    {
        var (project, id) = await UploadedAsync(Digits, "d.txt");
        using (project)
        {
            using var response = await GetAsync(project.OwnerClient, id, range);

            Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
            Assert.Equal(body, await response.Content.ReadAsStringAsync());
            Assert.Equal(contentRange, response.Content.Headers.ContentRange!.ToString());
        }
    }

    [Theory]
    [InlineData("bytes=10-")]
    [InlineData("bytes=50-60")]
    [InlineData("bytes=-0")]
    public async Task ARangePastTheEndIs416(string range)
    {
        var (project, id) = await UploadedAsync(Digits, "d.txt");
        using (project)
        {
            using var response = await GetAsync(project.OwnerClient, id, range);

            await response.AssertProblemAsync(HttpStatusCode.RequestedRangeNotSatisfiable);
            Assert.Equal("bytes */10", response.Content.Headers.ContentRange!.ToString());
        }
    }

    [Theory]
    [InlineData("bytes=5-2")]
    [InlineData("bytes=abc")]
    [InlineData("lines=1-2")]
    [InlineData("bytes=0-1,4-5")]
    public async Task AnInvalidOrMultipleRangeIsIgnored(string range)
    {
        var (project, id) = await UploadedAsync(Digits, "d.txt");
        using (project)
        {
            using var response = await GetAsync(project.OwnerClient, id, range);

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(Digits, await response.Content.ReadAsByteArrayAsync());
        }
    }

    [Theory]
    [InlineData("<!DOCTYPE html><script>alert(1)</script>", "text/html")]
    [InlineData("<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>", "image/svg+xml")]
    [InlineData("<?xml version=\"1.0\"?><note/>", "application/xml")]
    public async Task TypesABrowserWouldRunAreNeverInline(string content, string type)
    {
        var (project, id) = await UploadedAsync(AttachmentFiles.Text(content), "page.txt");
        using (project)
        {
            using var response = await GetAsync(project.OwnerClient, id);

            Assert.Equal(type, response.Content.Headers.ContentType!.MediaType);
            Assert.Equal("attachment", response.Content.Headers.ContentDisposition!.DispositionType);
            Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        }
    }

    [Fact]
    public async Task AStrangerGets404AndAViewerDownloads()
    {
        var (project, id) = await UploadedAsync(Digits, "d.txt");
        using (project)
        {
            var (_, viewer) = await service.MemberAsync(project, ProjectRoles.Viewer);
            using var stranger = await service.ClientForNewUserAsync();

            using var byViewer = await GetAsync(viewer, id);
            using var byStranger = await GetAsync(stranger, id);
            using var listByStranger = await stranger.GetAsync($"/api/v1/attachments/{id}/thumbnail");

            Assert.Equal(HttpStatusCode.OK, byViewer.StatusCode);
            await byStranger.AssertProblemAsync(HttpStatusCode.NotFound);
            await listByStranger.AssertProblemAsync(HttpStatusCode.NotFound);
        }
    }
}
