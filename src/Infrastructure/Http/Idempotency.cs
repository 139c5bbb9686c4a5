using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using NpgsqlTypes;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Infrastructure.Http;

/// <summary>Marks a creating POST as honouring <c>Idempotency-Key</c>.</summary>
public sealed class IdempotentCreateMetadata
{
    public static readonly IdempotentCreateMetadata Instance = new();
}

/// <summary>
/// What a replay answers instead of the first response, set by a handler whose answer shows something once (a new secret):
/// the stored copy must not keep it for the 24 hours of the key.
/// </summary>
public sealed class IdempotentReplayBody(byte[] body)
{
    public byte[] Body { get; } = body;
}

/// <summary>
/// <c>Idempotency-Key</c> on creating POSTs (API.md): for 24 hours the same caller, key and request (method, path, body)
/// replay the first response byte for byte with <c>Idempotent-Replayed: true</c>; the same key with another request is a
/// 409; while the first request is still running, a duplicate is a 409 with <c>Retry-After</c>. The primary key
/// (user, key) decides between concurrent duplicates on any node. Server errors are not stored, so a retry after a 5xx
/// runs again.
/// </summary>
/// <remarks>
/// The stored response is written after the handler's own transaction commits. If the process dies in between, the key
/// stays "in flight" until <see cref="AbandonedAfter"/>, after which a retry runs the request again: the price of keeping
/// the mechanism outside every handler.
/// </remarks>
public static class Idempotency
{
    public const string HeaderName = "Idempotency-Key";
    public const string ReplayedHeaderName = "Idempotent-Replayed";
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(24);
    public static readonly TimeSpan AbandonedAfter = TimeSpan.FromMinutes(5);

    /// <summary>Response headers that are part of what is replayed.</summary>
    private static readonly string[] ReplayedHeaders = ["Location", "ETag", "X-Batch-ID", "Deduplicated", "Cache-Control"];

    // Claims the key: a new row, or an expired or abandoned one taken over. No row back means another request holds it.
    private const string ClaimSql = """
        INSERT INTO idempotency_keys (user_id, key, request_hash, expires_at)
        VALUES (@userId, @key, @requestHash, now() + @lifetime)
        ON CONFLICT (user_id, key) DO UPDATE
            SET request_hash = excluded.request_hash, status_code = NULL, content_type = NULL, headers = NULL, body = NULL,
                created_at = now(), expires_at = excluded.expires_at
            WHERE idempotency_keys.expires_at < now()
               OR (idempotency_keys.status_code IS NULL AND idempotency_keys.created_at < now() - @abandonedAfter)
        RETURNING true
        """;

    private const string ReadSql = """
        SELECT request_hash, status_code, content_type, headers::text, body
        FROM idempotency_keys
        WHERE user_id = @userId AND key = @key
        """;

    private const string StoreSql = """
        UPDATE idempotency_keys SET status_code = @statusCode, content_type = @contentType, headers = @headers::jsonb, body = @body
        WHERE user_id = @userId AND key = @key
        """;

    private const string ReleaseSql = "DELETE FROM idempotency_keys WHERE user_id = @userId AND key = @key AND status_code IS NULL";

    /// <summary>
    /// Stores <paramref name="body"/> for replays of this request instead of the response sent now (same status and headers).
    /// Without an <c>Idempotency-Key</c> it costs nothing.
    /// </summary>
    public static void ReplayWith(this HttpContext http, byte[] body) => http.Features.Set(new IdempotentReplayBody(body));

    /// <summary>Opts a route in.</summary>
    public static RouteHandlerBuilder Idempotent(this RouteHandlerBuilder route) =>
        route.WithMetadata(IdempotentCreateMetadata.Instance)
            .ProducesProblem(StatusCodes.Status409Conflict);

    /// <summary>Runs after authorization, where the endpoint and the caller are known.</summary>
    public static IApplicationBuilder UseIdempotency(this IApplicationBuilder app) => app.Use(static async (http, next) =>
    {
        if (!HttpMethods.IsPost(http.Request.Method)
            || http.GetEndpoint()?.Metadata.GetMetadata<IdempotentCreateMetadata>() is null
            || !http.Request.Headers.TryGetValue(HeaderName, out var keyValues)
            || Caller.From(http.User) is not { } caller)
        {
            await next(http);
            return;
        }
        await HandleAsync(http, next, caller, keyValues.ToString());
    });

    private static async Task HandleAsync(HttpContext http, RequestDelegate next, Caller caller, string key)
    {
        if (key.Length is 0 or > 255 || key.Any(c => c is < '!' or > '~'))
        {
            await ProblemResponses.WriteAsync(http, new HttpValidationProblemDetails(
                new Dictionary<string, string[]> { [HeaderName] = ["must be 1 to 255 visible ASCII characters"] })
            {
                Status = StatusCodes.Status400BadRequest,
                Title = "Malformed Request",
                Detail = "The Idempotency-Key header is not a valid key.",
            });
            return;
        }

        var requestHash = await HashRequestAsync(http.Request);
        var dataSource = http.RequestServices.GetRequiredService<NpgsqlDataSource>();
        var aborted = http.RequestAborted;

        if (!await ClaimAsync(dataSource, caller.UserId, key, requestHash, aborted))
        {
            await AnswerDuplicateAsync(http, dataSource, caller.UserId, key, requestHash, aborted);
            return;
        }

        // The response is captured whole to be stored; the features outside (compression) see it only afterwards.
        var original = http.Features.GetRequiredFeature<IHttpResponseBodyFeature>();
        using var captured = new MemoryStream();
        http.Features.Set<IHttpResponseBodyFeature>(new StreamResponseBodyFeature(captured));
        var stored = false;
        try
        {
            await next(http);
            if (http.Response.StatusCode is >= 200 and < 500)
            {
                var replayed = http.Features.Get<IdempotentReplayBody>()?.Body ?? captured.ToArray();
                await StoreAsync(dataSource, caller.UserId, key, http.Response, replayed, CancellationToken.None);
                stored = true;
            }
        }
        finally
        {
            http.Features.Set(original);
            if (!stored)
                await ReleaseAsync(dataSource, caller.UserId, key);
        }
        captured.Position = 0;
        await captured.CopyToAsync(original.Stream, aborted);
    }

    /// <summary>SHA-256 over method, path and body: "the same request" for replay purposes.</summary>
    private static async Task<byte[]> HashRequestAsync(HttpRequest request)
    {
        request.EnableBuffering();
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(request.Method + " " + request.Path + "\n"));
        var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            int read;
            while ((read = await request.Body.ReadAsync(buffer, request.HttpContext.RequestAborted)) > 0)
                hash.AppendData(buffer, 0, read);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        request.Body.Position = 0;
        return hash.GetHashAndReset();
    }

    private static async Task<bool> ClaimAsync(
        NpgsqlDataSource dataSource, Guid userId, string key, byte[] requestHash, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(ClaimSql);
        command.Parameters.Add(new NpgsqlParameter<Guid>("userId", userId));
        command.Parameters.Add(new NpgsqlParameter<string>("key", key));
        command.Parameters.Add(new NpgsqlParameter<byte[]>("requestHash", requestHash));
        command.Parameters.Add(new NpgsqlParameter<TimeSpan>("lifetime", Lifetime));
        command.Parameters.Add(new NpgsqlParameter<TimeSpan>("abandonedAfter", AbandonedAfter));
        return await command.ExecuteScalarAsync(cancellationToken) is true;
    }

    private static async Task AnswerDuplicateAsync(
        HttpContext http, NpgsqlDataSource dataSource, Guid userId, string key, byte[] requestHash, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(ReadSql);
        command.Parameters.Add(new NpgsqlParameter<Guid>("userId", userId));
        command.Parameters.Add(new NpgsqlParameter<string>("key", key));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            // Released between our claim and this read (the first request failed): the client may simply retry.
            http.Response.Headers.RetryAfter = "1";
            await ProblemResponses.WriteAsync(http, Conflict("A request with this Idempotency-Key failed a moment ago; retry it."));
            return;
        }
        if (!reader.GetFieldValue<byte[]>(0).AsSpan().SequenceEqual(requestHash))
        {
            await ProblemResponses.WriteAsync(http, Conflict(
                "This Idempotency-Key was already used with a different request; use a new key for a new request."));
            return;
        }
        if (reader.IsDBNull(1))
        {
            http.Response.Headers.RetryAfter = "1";
            await ProblemResponses.WriteAsync(http, Conflict(
                "A request with this Idempotency-Key is still being processed; retry after the number of seconds in Retry-After."));
            return;
        }

        http.Response.StatusCode = reader.GetInt32(1);
        if (!reader.IsDBNull(2))
            http.Response.ContentType = reader.GetString(2);
        if (!reader.IsDBNull(3))
        {
            using var headers = JsonDocument.Parse(reader.GetString(3));
            foreach (var header in headers.RootElement.EnumerateObject())
                http.Response.Headers[header.Name] = header.Value.GetString();
        }
        http.Response.Headers[ReplayedHeaderName] = "true";
        if (!reader.IsDBNull(4))
            await http.Response.Body.WriteAsync(reader.GetFieldValue<byte[]>(4), cancellationToken);
    }

    private static async Task StoreAsync(
        NpgsqlDataSource dataSource, Guid userId, string key, HttpResponse response, byte[] body, CancellationToken cancellationToken)
    {
        var headers = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(headers))
        {
            writer.WriteStartObject();
            foreach (var name in ReplayedHeaders)
                if (response.Headers.TryGetValue(name, out var value))
                    writer.WriteString(name, value.ToString());
            writer.WriteEndObject();
        }
        await using var command = dataSource.CreateCommand(StoreSql);
        command.Parameters.Add(new NpgsqlParameter<Guid>("userId", userId));
        command.Parameters.Add(new NpgsqlParameter<string>("key", key));
        command.Parameters.Add(new NpgsqlParameter<int>("statusCode", response.StatusCode));
        command.Parameters.Add(new NpgsqlParameter("contentType", NpgsqlDbType.Text) { Value = (object?)response.ContentType ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter<string>("headers", Encoding.UTF8.GetString(headers.WrittenSpan)));
        command.Parameters.Add(new NpgsqlParameter<byte[]>("body", body));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task ReleaseAsync(NpgsqlDataSource dataSource, Guid userId, string key)
    {
        await using var command = dataSource.CreateCommand(ReleaseSql);
        command.Parameters.Add(new NpgsqlParameter<Guid>("userId", userId));
        command.Parameters.Add(new NpgsqlParameter<string>("key", key));
        await command.ExecuteNonQueryAsync(CancellationToken.None);
    }

    private static ProblemDetails Conflict(string detail) =>
        new() { Status = StatusCodes.Status409Conflict, Title = "Conflict", Detail = detail };
}
