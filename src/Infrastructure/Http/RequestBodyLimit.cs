using Microsoft.AspNetCore.Http.Metadata;

namespace TaskRunner.Infrastructure.Http;

/// <summary>A route's own body limit in place of <c>Http:MaxRequestBodyBytes</c> (routing applies it before the body is read).</summary>
public sealed class RequestBodyLimit(long bytes) : IRequestSizeLimitMetadata
{
    public long? MaxRequestBodySize => bytes;
}
