using System.Buffers;
using System.Reflection;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Metadata;

namespace TaskRunner.Infrastructure.Http;

/// <summary>
/// One resource as a <c>200</c> response, written with the fields a <c>fields</c> parameter selected (all when absent), the
/// single-resource counterpart of <see cref="ListResult{T}"/>. Made by <see cref="FieldSelection{T}.Ok"/>.
/// </summary>
public sealed class ResourceResult<T> : IResult, IEndpointMetadataProvider
{
    private readonly FieldSelection<T> fields;

    internal ResourceResult(T value, FieldSelection<T> fields)
    {
        Value = value;
        this.fields = fields;
    }

    public T Value { get; }

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var body = new ArrayBufferWriter<byte>(4 * 1024);
        using (var writer = new Utf8JsonWriter(body, new JsonWriterOptions { Encoder = fields.Encoder }))
            fields.Write(writer, Value);

        var response = httpContext.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/json; charset=utf-8";
        response.ContentLength = body.WrittenCount;
        await response.Body.WriteAsync(body.WrittenMemory, httpContext.RequestAborted);
    }

    /// <summary>The OpenAPI document describes the body as <typeparamref name="T"/> with all its fields.</summary>
    static void IEndpointMetadataProvider.PopulateMetadata(MethodInfo method, EndpointBuilder builder) =>
        builder.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status200OK, typeof(T), ["application/json"]));
}
