using System.Net;
using SkiaSharp;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Attachments;

public sealed class ThumbnailTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private async Task<(TestProject Project, string Id)> UploadAsync(byte[] image, string filename)
    {
        var project = await service.CreateProjectAsync();
        var taskId = await service.CreateTaskAsync(project);
        using var response = await project.OwnerClient.UploadAsync(taskId, image, filename);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (project, (await response.ReadJsonAsync()).GetProperty("id").GetString()!);
    }

    /// <summary>The thumbnail answer once the job has ended (anything but the "still being made" 404).</summary>
    private static async Task<HttpResponseMessage> ThumbnailAsync(HttpClient client, string id)
    {
        for (var attempt = 0; ; attempt++)
        {
            var response = await client.GetAsync($"/api/v1/attachments/{id}/thumbnail");
            if (response.StatusCode == HttpStatusCode.OK || attempt == 300
                || !(await response.Content.ReadAsStringAsync()).Contains("still being made", StringComparison.Ordinal))
                return response;
            response.Dispose();
            await Task.Delay(100);
        }
    }

    private static async Task<SKBitmap> DecodedAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return SKBitmap.Decode(await response.Content.ReadAsByteArrayAsync());
    }

    [Theory]
    [InlineData(SKEncodedImageFormat.Png, "wide.png", 256, 128)]
    [InlineData(SKEncodedImageFormat.Jpeg, "wide.jpg", 256, 128)]
    [InlineData(SKEncodedImageFormat.Webp, "wide.webp", 256, 128)]
    public async Task AnImageGetsAThumbnailWhoseLongestEdgeIs256(SKEncodedImageFormat format, string filename, int width, int height)
    {
        var (project, id) = await UploadAsync(AttachmentFiles.Image(1200, 600, format), filename);
        using (project)
        {
            using var response = await ThumbnailAsync(project.OwnerClient, id);
            using var thumbnail = await DecodedAsync(response);

            Assert.Equal((width, height), (thumbnail.Width, thumbnail.Height));
            // Left red, right blue, as in the original.
            Assert.True(thumbnail.GetPixel(10, 64).Red > 200 && thumbnail.GetPixel(245, 64).Blue > 200);
            Assert.Equal("image/jpeg", response.Content.Headers.ContentType!.MediaType);
        }
    }

    [Fact]
    public async Task ATransparentImageGetsAPngThumbnail()
    {
        var (project, id) = await UploadAsync(AttachmentFiles.Image(300, 300, SKEncodedImageFormat.Png, transparent: true), "clear.png");
        using (project)
        {
            using var response = await ThumbnailAsync(project.OwnerClient, id);

            Assert.Equal("image/png", response.Content.Headers.ContentType!.MediaType);
            using var thumbnail = await DecodedAsync(response);
            Assert.Equal(256, thumbnail.Width);
        }
    }

    [Fact]
    public async Task TheExifOrientationIsAppliedAndTheMetadataStripped()
    {
        // Stored 400×200 with orientation 6 (rotate 90° clockwise to view): upright it is 200×400, red on top.
        var (project, id) = await UploadAsync(AttachmentFiles.JpegWithExifOrientation(400, 200, 6), "phone.jpg");
        using (project)
        {
            using var response = await ThumbnailAsync(project.OwnerClient, id);
            var bytes = await response.Content.ReadAsByteArrayAsync();
            using var thumbnail = SKBitmap.Decode(bytes);

            Assert.Equal((128, 256), (thumbnail.Width, thumbnail.Height));
            Assert.True(thumbnail.GetPixel(64, 10).Red > 200 && thumbnail.GetPixel(64, 245).Blue > 200);
            Assert.DoesNotContain("Exif", System.Text.Encoding.Latin1.GetString(bytes), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task AnAnimatedGifGivesItsFirstFrame()
    {
        var (project, id) = await UploadAsync(TwoFrameGif(), "anim.gif");
        using (project)
        {
            using var response = await ThumbnailAsync(project.OwnerClient, id);
            using var thumbnail = await DecodedAsync(response);

            var pixel = thumbnail.GetPixel(thumbnail.Width / 2, thumbnail.Height / 2);
            Assert.True(pixel.Red > 200 && pixel.Green < 60, $"the first frame is red, got {pixel}");
        }
    }

    [Fact]
    public async Task ADecompressionBombIsRefusedAThumbnailAndStaysDownloadable()
    {
        var bomb = AttachmentFiles.PngBomb(60_000, 60_000);
        var (project, id) = await UploadAsync(bomb, "bomb.png");
        using (project)
        {
            using var response = await ThumbnailAsync(project.OwnerClient, id);
            using var download = await project.OwnerClient.GetAsync($"/api/v1/attachments/{id}/download");

            var problem = await response.AssertProblemAsync(HttpStatusCode.NotFound);
            Assert.Contains("60000x60000", problem.GetProperty("detail").GetString());
            Assert.Equal(bomb, await download.Content.ReadAsByteArrayAsync());
            Assert.Equal("failed", (await service.QueryTextAsync("SELECT thumbnail_status FROM attachments WHERE id = $1::uuid", id)).Single());
        }
    }

    [Fact]
    public async Task ACorruptJpegFailsWithARecordedReason()
    {
        var jpeg = AttachmentFiles.Image(200, 200, SKEncodedImageFormat.Jpeg);
        byte[] corrupt = [.. jpeg.Take(20), .. Enumerable.Repeat((byte)0x5A, 400)];
        var (project, id) = await UploadAsync(corrupt, "broken.jpg");
        using (project)
        {
            using var response = await ThumbnailAsync(project.OwnerClient, id);

            var problem = await response.AssertProblemAsync(HttpStatusCode.NotFound);
            Assert.Contains("can have no thumbnail", problem.GetProperty("detail").GetString());
            Assert.Empty(await service.QueryTextAsync("SELECT attachment_id::text FROM thumbnail_jobs WHERE attachment_id = $1::uuid", id));
            Assert.NotEmpty((await service.QueryTextAsync("SELECT thumbnail_error FROM attachments WHERE id = $1::uuid", id)).Single());
        }
    }

    [Fact]
    public async Task AFileThatIsNotAnImageHasNoThumbnail()
    {
        var (project, id) = await UploadAsync(AttachmentFiles.Text("plain"), "a.txt");
        using (project)
        {
            using var response = await project.OwnerClient.GetAsync($"/api/v1/attachments/{id}/thumbnail");

            Assert.Contains("only PNG, JPEG, GIF and WebP", (await response.AssertProblemAsync(HttpStatusCode.NotFound)).GetProperty("detail").GetString());
        }
    }

    /// <summary>A 2-frame 16×16 GIF89a: frame one all red, frame two all green (palette index 0, then 1).</summary>
    private static byte[] TwoFrameGif()
    {
        var gif = new List<byte>();
        gif.AddRange("GIF89a"u8.ToArray());
        gif.AddRange([16, 0, 16, 0, 0x80, 0, 0]); // 16×16, global table of 2 colours
        gif.AddRange([255, 0, 0, 0, 255, 0]); // red, green
        gif.AddRange([0x21, 0xFF, 11, .. "NETSCAPE2.0"u8.ToArray(), 3, 1, 0, 0, 0]); // loop forever
        foreach (var index in new byte[] { 0, 1 })
        {
            gif.AddRange([0x21, 0xF9, 4, 0, 10, 0, 0, 0]); // 0.1 s delay
            gif.AddRange([0x2C, 0, 0, 0, 0, 16, 0, 16, 0, 0]); // whole-canvas frame
            gif.AddRange(Lzw(index));
        }
        gif.Add(0x3B);
        return [.. gif];
    }

    /// <summary>LZW data (minimum code size 2) for 256 pixels of one palette index, as clear-code + literal codes.</summary>
    private static byte[] Lzw(byte index)
    {
        // Emitting a clear code before every 2 literals keeps the code size at 3 bits, avoiding table growth.
        var codes = new List<int>();
        for (var pixel = 0; pixel < 256; pixel++)
        {
            if (pixel % 2 == 0)
                codes.Add(4);
            codes.Add(index);
        }
        codes.Add(5);
        var bits = new List<byte>();
        int buffer = 0, count = 0;
        foreach (var code in codes)
        {
            buffer |= code << count;
            count += 3;
            while (count >= 8)
            {
                bits.Add((byte)buffer);
                buffer >>= 8;
                count -= 8;
            }
        }
        if (count > 0)
            bits.Add((byte)buffer);
        var data = new List<byte> { 2 };
        for (var start = 0; start < bits.Count; start += 255)
        {
            var block = bits.Skip(start).Take(255).ToArray();
            data.Add((byte)block.Length);
            data.AddRange(block);
        }
        data.Add(0);
        return [.. data];
    }
}
