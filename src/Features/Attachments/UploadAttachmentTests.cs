using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using SkiaSharp;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Attachments;

public sealed class UploadAttachmentTests(UploadAttachmentTests.SmallLimits service) : IClassFixture<UploadAttachmentTests.SmallLimits>
{
    public const int MaxSize = 4096;
    public const int Quota = 10_000;

    public sealed class SmallLimits : ServiceFixture
    {
        protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
            base.Settings(connectionString).Concat(
            [
                new("Attachments:MaxSizeBytes", MaxSize.ToString()),
                new("Attachments:ProjectQuotaBytes", Quota.ToString()),
            ]);
    }

    private string UploadsFolder => Path.Combine(ServiceFixture.AttachmentsPath(service.ConnectionString), "uploads");

    private Task<long> AttachmentCountAsync(Guid taskId) =>
        service.ScalarAsync<long>("SELECT count(*) FROM attachments WHERE task_id = $1", taskId);

    /// <summary>The upload folder empties as refused uploads are cleaned up (after the answer, for a client that vanished).</summary>
    private async Task AssertNoUploadLeftAsync()
    {
        for (var wait = 0; wait < 100 && Directory.EnumerateFiles(UploadsFolder).Any(); wait++)
            await Task.Delay(50);
        Assert.Empty(Directory.EnumerateFiles(UploadsFolder));
    }

    [Fact]
    public async Task AnEditorUploadsAFileStoredByItsHashWithTheTypeFromItsBytesAndAnAuditRow()
    {
        using var project = await service.CreateProjectAsync();
        var taskId = await service.CreateTaskAsync(project);
        var content = AttachmentFiles.Text("name,count\nfoo,1\n");

        using var response = await project.OwnerClient.UploadAsync(taskId, content, "report.csv", "text/csv");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var body = await response.ReadJsonAsync();
        var id = body.GetProperty("id").GetString()!;
        Assert.Equal($"/api/v1/attachments/{id}", response.Headers.Location!.OriginalString);
        Assert.Equal("report.csv", body.GetProperty("filename").GetString());
        Assert.Equal("text/csv", body.GetProperty("content_type").GetString());
        Assert.Equal(content.Length, body.GetProperty("size_bytes").GetInt64());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(content)), body.GetProperty("sha256").GetString());
        Assert.False(body.TryGetProperty("thumbnail_url", out _));
        Assert.Single(await service.AuditDiffsAsync("attachment.upload", id));
        var blob = Path.Combine(ServiceFixture.AttachmentsPath(service.ConnectionString), "blobs",
            body.GetProperty("sha256").GetString()![..2], body.GetProperty("sha256").GetString()![2..4], body.GetProperty("sha256").GetString()!);
        Assert.Equal(content, await File.ReadAllBytesAsync(blob));
        await AssertNoUploadLeftAsync();
    }

    [Fact]
    public async Task AnImageGetsAThumbnailUrl()
    {
        using var project = await service.CreateProjectAsync();
        var taskId = await service.CreateTaskAsync(project);

        using var response = await project.OwnerClient.UploadAsync(taskId, AttachmentFiles.Image(8, 8, SKEncodedImageFormat.Png), "dot.png", "image/png");

        var body = await response.ReadJsonAsync();
        Assert.Equal("image/png", body.GetProperty("content_type").GetString());
        Assert.Equal($"/api/v1/attachments/{body.GetProperty("id").GetString()}/thumbnail", body.GetProperty("thumbnail_url").GetString());
    }

    [Fact]
    public async Task AViewerMayNotUploadAndAStrangerDoesNotSeeTheTask()
    {
        using var project = await service.CreateProjectAsync();
        var (_, viewer) = await service.MemberAsync(project, ProjectRoles.Viewer);
        using var stranger = await service.ClientForNewUserAsync();
        var taskId = await service.CreateTaskAsync(project);

        using var byViewer = await viewer.UploadAsync(taskId, AttachmentFiles.Text("hello"), "a.txt");
        using var byStranger = await stranger.UploadAsync(taskId, AttachmentFiles.Text("hello"), "a.txt");

        await byViewer.AssertProblemAsync(HttpStatusCode.Forbidden);
        await byStranger.AssertProblemAsync(HttpStatusCode.NotFound);
        Assert.Equal(0, await AttachmentCountAsync(taskId));
    }

    [Theory]
    [InlineData("ELF executable renamed .png", "evil.png", "image/png")]
    [InlineData("ELF executable declared as nothing", "evil.png", null)]
    public async Task AnExecutableRenamedAsAnImageIs415(string _, string filename, string? declared)
    {
        using var project = await service.CreateProjectAsync();
        var taskId = await service.CreateTaskAsync(project);
        byte[] elf = [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0, .. new byte[200]];

        using var response = await project.OwnerClient.UploadAsync(taskId, elf, filename, declared);

        await response.AssertProblemAsync(HttpStatusCode.UnsupportedMediaType);
        Assert.Equal(0, await AttachmentCountAsync(taskId));
    }

    [Fact]
    public async Task AnSvgWithAScriptIs415()
    {
        using var project = await service.CreateProjectAsync();
        var taskId = await service.CreateTaskAsync(project);
        var svg = AttachmentFiles.Text("<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(document.cookie)</script></svg>");

        using var response = await project.OwnerClient.UploadAsync(taskId, svg, "logo.png", "image/png");

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnsupportedMediaType);
        Assert.Contains("image/svg+xml", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task AnHtmlFileDeclaredAsPlainTextIs415()
    {
        using var project = await service.CreateProjectAsync();
        var taskId = await service.CreateTaskAsync(project);

        using var response = await project.OwnerClient.UploadAsync(taskId,
            AttachmentFiles.Text("\n  <!DOCTYPE html><html><body onload=alert(1)>hi</body></html>"), "notes.txt", "text/plain");

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnsupportedMediaType);
        Assert.Contains("text/html", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task ADeclaredTypeThatDisagreesWithTheBytesIs415()
    {
        using var project = await service.CreateProjectAsync();
        var taskId = await service.CreateTaskAsync(project);

        using var response = await project.OwnerClient.UploadAsync(taskId, AttachmentFiles.Image(4, 4, SKEncodedImageFormat.Png), "a.jpg", "image/jpeg");

        await response.AssertProblemAsync(HttpStatusCode.UnsupportedMediaType);
    }

    [Fact]
    public async Task AnEmptyFileIs422()
    {
        using var project = await service.CreateProjectAsync();
        var taskId = await service.CreateTaskAsync(project);

        using var response = await project.OwnerClient.UploadAsync(taskId, [], "empty.txt", "text/plain");

        Assert.NotEmpty((await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity)).Errors("file"));
        Assert.Equal(0, await AttachmentCountAsync(taskId));
    }

    [Fact]
    public async Task AFileAtTheLimitIsTakenAndOneByteOverIs413WithNothingLeft()
    {
        using var project = await service.CreateProjectAsync();
        var taskId = await service.CreateTaskAsync(project);

        using var atLimit = await project.OwnerClient.UploadAsync(taskId, Encoding.ASCII.GetBytes(new string('a', MaxSize)), "max.txt");
        using var over = await project.OwnerClient.UploadAsync(taskId, Encoding.ASCII.GetBytes(new string('b', MaxSize + 1)), "over.txt");

        Assert.Equal(HttpStatusCode.Created, atLimit.StatusCode);
        await over.AssertProblemAsync(HttpStatusCode.RequestEntityTooLarge);
        Assert.Equal(1, await AttachmentCountAsync(taskId));
        Assert.Equal(0, await service.ScalarAsync<long>("SELECT count(*) FROM attachment_blobs WHERE size_bytes > $1", (long)MaxSize));
        await AssertNoUploadLeftAsync();
    }

    [Fact]
    public async Task UploadsPastTheProjectQuotaAre413()
    {
        using var project = await service.CreateProjectAsync();
        var taskId = await service.CreateTaskAsync(project);
        var otherTask = await service.CreateTaskAsync(project);

        using var first = await project.OwnerClient.UploadAsync(taskId, Encoding.ASCII.GetBytes(new string('1', 4000)), "1.txt");
        using var second = await project.OwnerClient.UploadAsync(otherTask, Encoding.ASCII.GetBytes(new string('2', 4000)), "2.txt");
        using var third = await project.OwnerClient.UploadAsync(taskId, Encoding.ASCII.GetBytes(new string('3', 4000)), "3.txt");

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Created, second.StatusCode);
        Assert.Contains("quota", (await third.AssertProblemAsync(HttpStatusCode.RequestEntityTooLarge)).GetProperty("detail").GetString());
        await AssertNoUploadLeftAsync();

        // Deleting frees the quota.
        var firstId = (await first.ReadJsonAsync()).GetProperty("id").GetString();
        using var deleted = await project.OwnerClient.DeleteAsync($"/api/v1/attachments/{firstId}");
        using var retried = await project.OwnerClient.UploadAsync(taskId, Encoding.ASCII.GetBytes(new string('3', 4000)), "3.txt");
        Assert.Equal(HttpStatusCode.Created, retried.StatusCode);
    }

    [Theory]
    [InlineData("../../etc/passwd", "passwd")]
    [InlineData("..\\..\\windows\\system.ini", "system.ini")]
    [InlineData("..", "file")]
    [InlineData("  .hidden. ", "hidden")]
    [InlineData("r\u00e9sum\u00e9\u200b.txt", "r\u00e9sum\u00e9.txt")]
    public async Task FileNamesLoseTheirPathsAndControlCharacters(string sent, string stored)
    {
        using var project = await service.CreateProjectAsync();
        var taskId = await service.CreateTaskAsync(project);

        using var response = await project.OwnerClient.UploadAsync(taskId, AttachmentFiles.Text("x"), sent);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(stored, (await response.ReadJsonAsync()).GetProperty("filename").GetString());
    }

    [Fact]
    public async Task ANulInAFileNameIsDropped()
    {
        using var project = await service.CreateProjectAsync();
        var taskId = await service.CreateTaskAsync(project);
        // HttpClient refuses to write a NUL into a header, so the body is written by hand.
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(
            "--cut\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''a%00b.txt\r\n\r\nhello\r\n--cut--\r\n"));
        content.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse("multipart/form-data; boundary=cut");

        using var response = await project.OwnerClient.PostAsync($"/api/v1/tasks/{taskId}/attachments", content);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("ab.txt", (await response.ReadJsonAsync()).GetProperty("filename").GetString());
    }

    [Fact]
    public async Task AThousandCharacterNameIsCutTo255KeepingItsExtension()
    {
        using var project = await service.CreateProjectAsync();
        var taskId = await service.CreateTaskAsync(project);

        using var response = await project.OwnerClient.UploadAsync(taskId, AttachmentFiles.Text("x"), new string('n', 996) + ".txt");

        var name = (await response.ReadJsonAsync()).GetProperty("filename").GetString()!;
        Assert.Equal(255, name.Length);
        Assert.EndsWith("nnn.txt", name);
    }

    [Fact]
    public async Task ABodyThatIsNotMultipartIs415()
    {
        using var project = await service.CreateProjectAsync();
        var taskId = await service.CreateTaskAsync(project);

        using var response = await project.OwnerClient.PostAsync($"/api/v1/tasks/{taskId}/attachments", TestJson.Body(("file", "x")));

        await response.AssertProblemAsync(HttpStatusCode.UnsupportedMediaType);
    }

    [Fact]
    public async Task AMultipartBodyWithoutTheFileFieldIs422()
    {
        using var project = await service.CreateProjectAsync();
        var taskId = await service.CreateTaskAsync(project);
        var form = new MultipartFormDataContent { { new StringContent("hello"), "comment" } };

        using var response = await project.OwnerClient.PostAsync($"/api/v1/tasks/{taskId}/attachments", form);

        Assert.NotEmpty((await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity)).Errors("file"));
    }

    [Fact]
    public async Task ATruncatedMultipartBodyIs400AndLeavesNothing()
    {
        using var project = await service.CreateProjectAsync();
        var taskId = await service.CreateTaskAsync(project);
        var body = Encoding.ASCII.GetBytes(
            "--cut\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\n" + new string('t', 2000));
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse("multipart/form-data; boundary=cut");

        using var response = await project.OwnerClient.PostAsync($"/api/v1/tasks/{taskId}/attachments", content);

        await response.AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.Equal(0, await AttachmentCountAsync(taskId));
        await AssertNoUploadLeftAsync();
    }

    [Fact]
    public async Task AClientThatDisconnectsMidUploadLeavesNoRowAndNoFile()
    {
        using var project = await service.CreateProjectAsync();
        var taskId = await service.CreateTaskAsync(project);
        var head = Encoding.ASCII.GetBytes(
            "--cut\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.txt\"\r\nContent-Type: text/plain\r\n\r\n" + new string('d', 3000));

        using (var socket = new TcpClient())
        {
            await socket.ConnectAsync(service.BaseAddress.Host, service.BaseAddress.Port);
            var stream = socket.GetStream();
            var request = $"POST /api/v1/tasks/{taskId}/attachments HTTP/1.1\r\nHost: {service.BaseAddress.Authority}\r\n"
                + $"Authorization: {project.OwnerClient.DefaultRequestHeaders.Authorization}\r\n"
                + "Content-Type: multipart/form-data; boundary=cut\r\nContent-Length: 100000\r\n\r\n";
            await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
            await stream.WriteAsync(head);
            await stream.FlushAsync();
            // The upload has begun when its temporary file exists; then the client goes away.
            for (var wait = 0; wait < 200 && !Directory.EnumerateFiles(UploadsFolder).Any(); wait++)
                await Task.Delay(25);
            Assert.NotEmpty(Directory.EnumerateFiles(UploadsFolder));
        }

        await AssertNoUploadLeftAsync();
        Assert.Equal(0, await AttachmentCountAsync(taskId));
    }

    [Fact]
    public async Task TheOpenApiDocumentDescribesTheUploadAsAMultipartFormWithARequiredFileField()
    {
        using var anonymous = service.CreateClient();

        using var response = await anonymous.GetAsync("/openapi/v1.json");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = (await response.ReadJsonAsync()).GetProperty("paths").GetProperty("/api/v1/tasks/{id}/attachments").GetProperty("post")
            .GetProperty("requestBody");
        Assert.True(body.GetProperty("required").GetBoolean());
        var form = body.GetProperty("content").GetProperty("multipart/form-data").GetProperty("schema");
        Assert.Equal("object", form.GetProperty("type").GetString());
        Assert.Equal(["file"], form.GetProperty("required").EnumerateArray().Select(field => field.GetString()));
        var file = form.GetProperty("properties").GetProperty("file");
        Assert.Equal(("string", "binary"), (file.GetProperty("type").GetString(), file.GetProperty("format").GetString()));
    }
}
