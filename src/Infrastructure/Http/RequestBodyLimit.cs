using Microsoft.AspNetCore.Http.Metadata;

namespace TaskRunner.Infrastructure.Http;

/// <summary>
/// A route's own body limit in place of <c>Http:MaxRequestBodyBytes</c> (routing applies it before the body is read). It is
/// read per request, not when routes are mapped: reading options then would validate them before the host's startup
/// checks, and a bad setting would crash the process instead of stopping it with its one line.
/// </summary>
public sealed class RequestBodyLimit(Func<long> bytes) : IRequestSizeLimitMetadata
{
    public long? MaxRequestBodySize => bytes();
}
