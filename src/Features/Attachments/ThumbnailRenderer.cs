using SkiaSharp;

namespace TaskRunner.Features.Attachments;

/// <summary>Why an image can never have a thumbnail (corrupt, too many pixels): the job fails at once, without retries.</summary>
public sealed class ImpossibleThumbnailException(string reason) : Exception(reason);

/// <summary>A thumbnail's bytes and type: JPEG for opaque images, PNG when there is transparency.</summary>
public sealed record RenderedThumbnail(byte[] Bytes, string ContentType, int Width, int Height);

/// <summary>
/// Makes thumbnails with Skia (SkiaSharp; its native library is loaded on first use, so a node with thumbnails disabled
/// never loads it). The header is read first and an image over the pixel limit is refused before any pixel is decoded
/// (decompression bombs); JPEGs are decoded already scaled down; the EXIF orientation is applied; the result is encoded
/// from pixels, so no metadata of the original (EXIF, GPS, comments) survives. Animated GIFs give their first frame.
/// </summary>
public static class ThumbnailRenderer
{
    private const int JpegQuality = 82;

    public static RenderedThumbnail Render(Stream image, int maxEdge, long maxPixels)
    {
        using var codec = SKCodec.Create(image, out var opened)
            ?? throw new ImpossibleThumbnailException($"not a decodable image ({opened})");
        var source = codec.Info;
        if (source.Width <= 0 || source.Height <= 0)
            throw new ImpossibleThumbnailException("the image has no pixels");
        if ((long)source.Width * source.Height > maxPixels)
            throw new ImpossibleThumbnailException(
                $"the image is {source.Width}x{source.Height} pixels, more than the limit of {maxPixels}");

        // Decode at about twice the thumbnail's size where the codec can (JPEG: 1/2, 1/4, 1/8), then resample smoothly.
        var longEdge = Math.Max(source.Width, source.Height);
        var decodeScale = Math.Min(1f, 2f * maxEdge / longEdge);
        var decoded = decodeScale < 1f ? codec.GetScaledDimensions(decodeScale) : new SKSizeI(source.Width, source.Height);
        var opaque = source.AlphaType == SKAlphaType.Opaque;
        var decodeInfo = new SKImageInfo(decoded.Width, decoded.Height, SKColorType.Rgba8888, opaque ? SKAlphaType.Opaque : SKAlphaType.Premul);
        using var full = new SKBitmap(decodeInfo);
        var result = codec.GetPixels(decodeInfo, full.GetPixels());
        if (result != SKCodecResult.Success)
            throw new ImpossibleThumbnailException($"the image data is corrupt or truncated ({result})");

        var scale = Math.Min(1.0, (double)maxEdge / Math.Max(decoded.Width, decoded.Height));
        var width = Math.Max(1, (int)Math.Round(decoded.Width * scale));
        var height = Math.Max(1, (int)Math.Round(decoded.Height * scale));
        using var resized = full.Resize(new SKImageInfo(width, height, decodeInfo.ColorType, decodeInfo.AlphaType),
            new SKSamplingOptions(SKCubicResampler.Mitchell))
            ?? throw new ImpossibleThumbnailException("the image could not be resized");
        using var oriented = Orient(resized, codec.EncodedOrigin);
        using var encoded = oriented.Encode(opaque ? SKEncodedImageFormat.Jpeg : SKEncodedImageFormat.Png, JpegQuality)
            ?? throw new ImpossibleThumbnailException("the thumbnail could not be encoded");
        return new RenderedThumbnail(encoded.ToArray(), opaque ? ContentTypes.Jpeg : ContentTypes.Png, oriented.Width, oriented.Height);
    }

    /// <summary>The bitmap turned upright as its EXIF orientation says (a copy; the input when already upright).</summary>
    private static SKBitmap Orient(SKBitmap bitmap, SKEncodedOrigin origin)
    {
        if (origin == SKEncodedOrigin.TopLeft)
            return bitmap.Copy();
        var swaps = origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;
        var width = swaps ? bitmap.Height : bitmap.Width;
        var height = swaps ? bitmap.Width : bitmap.Height;
        // x' = ScaleX·x + SkewX·y + TransX, y' = SkewY·x + ScaleY·y + TransY, mapping stored pixels to upright ones.
        var matrix = origin switch
        {
            SKEncodedOrigin.TopRight => new SKMatrix(-1, 0, width, 0, 1, 0, 0, 0, 1),
            SKEncodedOrigin.BottomRight => new SKMatrix(-1, 0, width, 0, -1, height, 0, 0, 1),
            SKEncodedOrigin.BottomLeft => new SKMatrix(1, 0, 0, 0, -1, height, 0, 0, 1),
            SKEncodedOrigin.LeftTop => new SKMatrix(0, 1, 0, 1, 0, 0, 0, 0, 1),
            SKEncodedOrigin.RightTop => new SKMatrix(0, -1, width, 1, 0, 0, 0, 0, 1),
            SKEncodedOrigin.RightBottom => new SKMatrix(0, -1, width, -1, 0, height, 0, 0, 1),
            _ => new SKMatrix(0, 1, 0, -1, 0, height, 0, 0, 1),
        };
        var upright = new SKBitmap(new SKImageInfo(width, height, bitmap.ColorType, bitmap.AlphaType));
        using var canvas = new SKCanvas(upright);
        canvas.SetMatrix(matrix);
        canvas.DrawBitmap(bitmap, 0, 0, new SKSamplingOptions(SKFilterMode.Nearest), paint: null);
        return upright;
    }
}
