using System.Net;
using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using SkiaSharp;
using TaskRunner.Features.Attachments;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Storage;

/// <summary>The attachments API with its bytes in an S3-compatible store (s3rver, started by scripts/s3.sh).</summary>
public sealed class S3BlobStorageTests(S3BlobStorageTests.S3Storage service) : IClassFixture<S3BlobStorageTests.S3Storage>
{
    public sealed class S3Storage : ServiceFixture
    {
        private IEnumerable<KeyValuePair<string, string?>> s3 = [];

        protected override async Task<string> CreateDatabaseAsync()
        {
            s3 = await TestS3.SettingsAsync();
            return await base.CreateDatabaseAsync();
        }

        protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
            base.Settings(connectionString).Concat(s3).Concat(
            [
                new("Attachments:S3PartSizeBytes", (5 * 1024 * 1024).ToString()),
            ]);
    }

    private async Task<(TestProject Project, string Id)> UploadAsync(byte[] content, string filename)
    {
        var project = await service.CreateProjectAsync();
        var taskId = await service.CreateTaskAsync(project);
        using var response = await project.OwnerClient.UploadAsync(taskId, content, filename);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var body = await response.ReadJsonAsync();
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(content)), body.GetProperty("sha256").GetString());
        return (project, body.GetProperty("id").GetString()!);
    }

    private static async Task<byte[]> DownloadAsync(HttpClient client, string id, string? range = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/v1/attachments/{id}/download");
        if (range is not null)
            request.Headers.TryAddWithoutValidation("Range", range);
        using var response = await client.SendAsync(request);
        Assert.Equal(range is null ? HttpStatusCode.OK : HttpStatusCode.PartialContent, response.StatusCode);
        return await response.Content.ReadAsByteArrayAsync();
    }

    /// <summary>Random bytes behind a text prefix, so the type is plain text and the content unique to this run.</summary>
    private static byte[] UniqueText(int size)
    {
        var bytes = new byte[size];
        var random = new Random();
        for (var i = 0; i < size; i++)
            bytes[i] = (byte)random.Next('a', 'z' + 1);
        return bytes;
    }

    [Fact]
    public async Task ASmallFileGoesUpInOnePutAndComesBackWholeOrInRanges()
    {
        var content = UniqueText(10_000);
        var (project, id) = await UploadAsync(content, "small.txt");
        using (project)
        {
            Assert.Equal(content, await DownloadAsync(project.OwnerClient, id));
            Assert.Equal(content[100..200], await DownloadAsync(project.OwnerClient, id, "bytes=100-199"));
        }
    }

    [Fact]
    public async Task AFileLargerThanOnePartGoesUpAsAMultipartUploadAndComesBackWholeOrInRanges()
    {
        var content = UniqueText(12 * 1024 * 1024 + 123);
        var (project, id) = await UploadAsync(content, "large.txt");
        using (project)
        {
            Assert.Equal(content, await DownloadAsync(project.OwnerClient, id));
            var acrossParts = 5 * 1024 * 1024 - 10;
            Assert.Equal(content[acrossParts..(acrossParts + 20)], await DownloadAsync(project.OwnerClient, id, $"bytes={acrossParts}-{acrossParts + 19}"));
        }
    }

    [Fact]
    public async Task ImagesInS3GetThumbnails()
    {
        var (project, id) = await UploadAsync(AttachmentFiles.Image(640, 320, SKEncodedImageFormat.Png), "s3.png");
        using (project)
        {
            HttpResponseMessage response;
            var attempts = 0;
            while ((response = await project.OwnerClient.GetAsync($"/api/v1/attachments/{id}/thumbnail")).StatusCode != HttpStatusCode.OK
                && (await response.Content.ReadAsStringAsync()).Contains("still being made", StringComparison.Ordinal) && attempts++ < 300)
            {
                response.Dispose();
                await Task.Delay(100);
            }
            using (response)
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                using var thumbnail = SKBitmap.Decode(await response.Content.ReadAsByteArrayAsync());
                Assert.Equal((256, 128), (thumbnail.Width, thumbnail.Height));
            }
        }
    }

    [Fact]
    [Trait(TestMode.Trait, TestMode.InProcessOnly)]
    public async Task AnUnreferencedBlobIsDeletedFromTheBucket()
    {
        var content = UniqueText(2000);
        var (project, id) = await UploadAsync(content, "gone.txt");
        using (project)
        {
            var sha256 = Convert.ToHexStringLower(SHA256.HashData(content));
            await service.ExecuteSqlAsync("DELETE FROM attachments WHERE id = $1", Guid.Parse(id));
            await service.ExecuteSqlAsync("UPDATE attachment_blobs SET last_used_at = now() - interval '1 day' WHERE sha256 = $1", sha256);
            var storage = service.Services!.GetRequiredService<IBlobStorage>();
            await using (var before = await storage.OpenReadAsync(sha256, 0, content.Length, CancellationToken.None))
                Assert.NotEqual(-1, before.ReadByte());

            await service.Services!.GetRequiredService<BlobPurge>().PurgeAsync(CancellationToken.None);

            await Assert.ThrowsAnyAsync<Amazon.S3.AmazonS3Exception>(() => storage.OpenReadAsync(sha256, 0, content.Length, CancellationToken.None));
        }
    }
}
