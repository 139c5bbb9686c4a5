using System.Buffers;
using System.Globalization;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Net.Http.Headers;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Storage;

namespace TaskRunner.Features.Attachments;

/// <summary>
/// Writes a stored blob as a download: <c>ETag</c> = its SHA-256 (so <c>If-None-Match</c> gives 304), one byte
/// <c>Range</c> (206 with <c>Content-Range</c>; 416 when it starts past the end; <c>If-Range</c> honoured), a
/// <c>Content-Disposition</c> per RFC 6266 with an ASCII <c>filename</c> and a UTF-8 <c>filename*</c>, inline only for
/// types a browser shows without running anything. A malformed or multi-range <c>Range</c> is ignored (the whole file, 200),
/// as RFC 9110 allows. Never compressed: offsets and lengths are those of the stored bytes.
/// </summary>
public sealed class BlobDownload(IBlobStorage storage, string sha256, long size, string contentType, string filename) : IResult
{
    private const int ChunkSize = 64 * 1024;

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var request = httpContext.Request;
        var response = httpContext.Response;
        var tag = "\"" + sha256 + "\"";
        response.Headers.ETag = tag;
        response.Headers.AcceptRanges = "bytes";
        response.Headers.CacheControl = "private, no-cache";
        var disposition = new ContentDispositionHeaderValue(ContentTypes.ServedInline(contentType) ? "inline" : "attachment");
        disposition.SetHttpFileName(filename);
        response.Headers.ContentDisposition = disposition.ToString();
        if (httpContext.Features.Get<IHttpsCompressionFeature>() is { } compression)
            compression.Mode = HttpsCompressionMode.DoNotCompress;

        if (ETags.IsNotModified(request, tag))
        {
            response.StatusCode = StatusCodes.Status304NotModified;
            return;
        }

        long offset = 0, length = size;
        switch (RequestedRange(request, tag))
        {
            case (Satisfiable: false, _, _):
                response.Headers.ContentRange = $"bytes */{size.ToString(CultureInfo.InvariantCulture)}";
                await TypedResults.Problem(new ProblemDetails
                {
                    Status = StatusCodes.Status416RangeNotSatisfiable,
                    Title = "Range Not Satisfiable",
                    Detail = $"The file has {size} bytes; the range asked for starts past its end.",
                }).ExecuteAsync(httpContext);
                return;
            case (Satisfiable: true, var start, var end):
                offset = start;
                length = end - start + 1;
                response.StatusCode = StatusCodes.Status206PartialContent;
                response.Headers.ContentRange = string.Create(CultureInfo.InvariantCulture, $"bytes {start}-{end}/{size}");
                break;
            default:
                response.StatusCode = StatusCodes.Status200OK;
                break;
        }
        response.ContentType = contentType;
        response.ContentLength = length;
        if (HttpMethods.IsHead(request.Method))
            return;

        var cancellationToken = httpContext.RequestAborted;
        await using var source = await storage.OpenReadAsync(sha256, offset, length, cancellationToken);
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            var left = length;
            while (left > 0)
            {
                var read = await source.ReadAsync(buffer.AsMemory(0, (int)Math.Min(ChunkSize, left)), cancellationToken);
                if (read == 0)
                    throw new IOException($"blob {sha256} ended {left} bytes early");
                await response.Body.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                left -= read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Null: send everything. Otherwise the one range asked for, or unsatisfiable.</summary>
    private (bool Satisfiable, long Start, long End)? RequestedRange(HttpRequest request, string tag)
    {
        if (request.Headers.Range.Count == 0 || !RangeHeaderValue.TryParse(request.Headers.Range.ToString(), out var range)
            || !range.Unit.Equals("bytes", StringComparison.OrdinalIgnoreCase) || range.Ranges.Count != 1)
            return null;
        // If-Range names the version the client has; another version gets the whole file.
        if (request.Headers.IfRange.Count > 0 && request.Headers.IfRange.ToString() != tag)
            return null;
        var item = range.Ranges.First();
        if (item.From is { } from)
        {
            if (from >= size)
                return (false, 0, 0);
            return (true, from, Math.Min(item.To ?? size - 1, size - 1));
        }
        if (item.To is not { } suffix || suffix == 0)
            return (false, 0, 0);
        return (true, Math.Max(0, size - suffix), size - 1);
    }
}
