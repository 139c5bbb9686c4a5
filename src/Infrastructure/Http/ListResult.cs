using System.Buffers;
using System.Buffers.Text;
using System.Reflection;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Metadata;

namespace TaskRunner.Infrastructure.Http;

/// <summary>
/// One page of a list as a response: <c>{"data":[...],"next_cursor":...,"has_more":...}</c> with only the selected fields
/// of each item, the <c>Link: &lt;...&gt;; rel="next"</c> header, and a weak <c>ETag</c> over the body, so a client
/// polling a list gets <c>304 Not Modified</c> (no body) while the page has not changed.
/// </summary>
/// <remarks>
/// The body is written into a buffer before it is sent, because its ETag is a hash of the bytes and goes in a header.
/// A page is at most a few hundred items, so that costs one buffer of some tens of kilobytes and no second pass.
/// </remarks>
public sealed class ListResult<T> : IResult, IEndpointMetadataProvider
{
    private static readonly JsonEncodedText DataName = JsonEncodedText.Encode("data");
    private static readonly JsonEncodedText NextCursorName = JsonEncodedText.Encode("next_cursor");
    private static readonly JsonEncodedText HasMoreName = JsonEncodedText.Encode("has_more");

    private readonly FieldSelection<T> fields;

    internal ListResult(IReadOnlyList<T> data, string? nextCursor, FieldSelection<T> fields)
    {
        Data = data;
        NextCursor = nextCursor;
        this.fields = fields;
    }

    public IReadOnlyList<T> Data { get; }

    /// <summary>The cursor of the next page; null on the last page.</summary>
    public string? NextCursor { get; }

    public bool HasMore => NextCursor is not null;

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var body = new ArrayBufferWriter<byte>(16 * 1024);
        using (var writer = new Utf8JsonWriter(body, new JsonWriterOptions { Encoder = fields.Encoder }))
        {
            writer.WriteStartObject();
            writer.WriteStartArray(DataName);
            foreach (var item in Data)
                fields.Write(writer, item);
            writer.WriteEndArray();
            writer.WriteString(NextCursorName, NextCursor);
            writer.WriteBoolean(HasMoreName, HasMore);
            writer.WriteEndObject();
        }

        var response = httpContext.Response;
        var tag = EntityTag(body.WrittenSpan);
        response.Headers.ETag = "W/" + tag;
        // Lists differ per caller (their access decides the rows): private, and revalidated on every use.
        response.Headers.CacheControl = "private, no-cache";
        if (NextCursor is not null)
            response.Headers.Link = $"<{Lists.NextUrl(httpContext.Request, NextCursor)}>; rel=\"next\"";
        if (ETags.IsNotModified(httpContext.Request, tag))
        {
            response.StatusCode = StatusCodes.Status304NotModified;
            return;
        }

        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/json; charset=utf-8";
        response.ContentLength = body.WrittenCount;
        await response.Body.WriteAsync(body.WrittenMemory, httpContext.RequestAborted);
    }

    /// <summary>The OpenAPI document describes the body as <see cref="ListResponse{T}"/> (all fields) and the 304.</summary>
    static void IEndpointMetadataProvider.PopulateMetadata(MethodInfo method, EndpointBuilder builder)
    {
        builder.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status200OK, typeof(ListResponse<T>), ["application/json"]));
        builder.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status304NotModified, typeof(void)));
    }

    /// <summary>A quoted, base64url SHA-256 prefix of the body: 128 bits, so two different pages never share a tag.</summary>
    private static string EntityTag(ReadOnlySpan<byte> body)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(body, hash);
        return "\"" + Base64Url.EncodeToString(hash[..16]) + "\"";
    }
}
