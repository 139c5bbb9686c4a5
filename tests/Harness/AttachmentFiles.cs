using System.Net.Http.Headers;
using System.Text;
using SkiaSharp;

namespace TaskRunner.Tests.Harness;

/// <summary>Uploads as a browser sends them, and the files the attachment tests upload (images drawn with Skia).</summary>
public static class AttachmentFiles
{
    /// <summary>POSTs <paramref name="bytes"/> as the multipart field <c>file</c>; <paramref name="declaredType"/> is the part's Content-Type.</summary>
    public static Task<HttpResponseMessage> UploadAsync(
        this HttpClient client, Guid taskId, byte[] bytes, string filename = "file.bin", string? declaredType = null)
    {
        var file = new ByteArrayContent(bytes);
        if (declaredType is not null)
            file.Headers.ContentType = MediaTypeHeaderValue.Parse(declaredType);
        var form = new MultipartFormDataContent { { file, "file", filename } };
        return client.PostAsync($"/api/v1/tasks/{taskId}/attachments", form);
    }

    public static byte[] Text(string text) => Encoding.UTF8.GetBytes(text);

    /// <summary>An image of <paramref name="width"/>×<paramref name="height"/>: a red left half and a blue right half.</summary>
    public static byte[] Image(int width, int height, SKEncodedImageFormat format, bool transparent = false)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, transparent ? SKAlphaType.Premul : SKAlphaType.Opaque));
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(transparent ? SKColors.Transparent : SKColors.White);
            using var red = new SKPaint { Color = SKColors.Red };
            using var blue = new SKPaint { Color = SKColors.Blue };
            canvas.DrawRect(0, 0, width / 2f, height, red);
            canvas.DrawRect(width / 2f, 0, width / 2f, height, blue);
        }
        using var data = bitmap.Encode(format, 90);
        return data.ToArray();
    }

    /// <summary>A JPEG with an EXIF APP1 segment right after SOI carrying the given orientation tag (and a marker text).</summary>
    public static byte[] JpegWithExifOrientation(int width, int height, ushort orientation)
    {
        var jpeg = Image(width, height, SKEncodedImageFormat.Jpeg);
        var exif = new List<byte>();
        exif.AddRange("Exif\0\0"u8.ToArray());
        exif.AddRange("MM\0*"u8.ToArray());
        exif.AddRange([0, 0, 0, 8]); // first IFD at offset 8
        exif.AddRange([0, 1]); // one entry
        exif.AddRange([0x01, 0x12, 0, 3, 0, 0, 0, 1, (byte)(orientation >> 8), (byte)orientation, 0, 0]); // Orientation, SHORT, 1
        exif.AddRange([0, 0, 0, 0]); // no next IFD
        var length = exif.Count + 2;
        var segment = new List<byte> { 0xFF, 0xE1, (byte)(length >> 8), (byte)length };
        segment.AddRange(exif);
        return [.. jpeg.Take(2), .. segment, .. jpeg.Skip(2)];
    }

    /// <summary>
    /// A PNG that claims <paramref name="width"/>×<paramref name="height"/> pixels in a few hundred bytes (a decompression
    /// bomb's header): a valid signature and IHDR, then an IDAT of zeros that would inflate to gigabytes.
    /// </summary>
    public static byte[] PngBomb(int width, int height)
    {
        var png = new MemoryStream();
        png.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        var header = new byte[13];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header, width);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8; // bit depth
        header[9] = 0; // greyscale
        Chunk(png, "IHDR", header);
        var zeros = new MemoryStream();
        using (var deflate = new System.IO.Compression.ZLibStream(zeros, System.IO.Compression.CompressionLevel.SmallestSize, leaveOpen: true))
            deflate.Write(new byte[1024 * 1024]);
        Chunk(png, "IDAT", zeros.ToArray());
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    private static void Chunk(Stream png, string type, byte[] data)
    {
        var length = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(length, data.Length);
        png.Write(length);
        var typed = Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        png.Write(typed);
        var crc = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32(typed));
        png.Write(crc);
    }

    /// <summary>PNG's chunk checksum (CRC-32, polynomial 0xEDB88320).</summary>
    private static uint Crc32(byte[] data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc ^= b;
            for (var bit = 0; bit < 8; bit++)
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
        return ~crc;
    }
}
