using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Dapper;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;

namespace TaskRunner.Infrastructure.Security;

/// <summary>
/// Signed machine requests. An API key created with <c>require_signature</c> never sends its secret: the request names the
/// key by its id (<c>X-API-Key: trk_&lt;prefix&gt;</c>) and carries an HMAC-SHA256 over the method, the path, the query,
/// the body's SHA-256, a timestamp and a nonce, keyed with the SHA-256 of the key's secret (the one value the server
/// keeps, and the <c>signing_key</c> shown at creation). A timestamp further than
/// <see cref="AuthOptions.SignatureMaxSkewSeconds"/> from the server's clock is refused, and each nonce is accepted once
/// per key (kept in PostgreSQL until its timestamp would be refused anyway), so a captured request cannot be replayed, and
/// a body or query changed on the way no longer matches.
/// </summary>
public sealed class RequestSignatures(NpgsqlDataSource dataSource, IOptions<AuthOptions> options, TimeProvider clock)
{
    public const string SignatureHeader = "X-Signature";
    public const string TimestampHeader = "X-Signature-Timestamp";
    public const string NonceHeader = "X-Signature-Nonce";
    public const string Version = "v1";

    private const int MinNonceLength = 16;
    private const int MaxNonceLength = 128;

    /// <summary>
    /// The nonce is recorded only once the signature is proven, so forged requests cannot fill the table; a conflict is a
    /// replay. The row lives as long as its timestamp could still be accepted.
    /// </summary>
    private const string RecordNonceSql = """
        INSERT INTO request_nonces (api_key_id, nonce, expires_at)
        VALUES (@apiKeyId, @nonce, to_timestamp(@timestamp) + make_interval(secs => @maxSkewSeconds))
        ON CONFLICT DO NOTHING
        """;

    /// <summary>
    /// The text that is signed: <c>v1</c>, the method, the path and the query exactly as sent (without <c>?</c>), the
    /// body's SHA-256 in lower-case hex (of nothing for no body), the timestamp and the nonce, joined by line feeds.
    /// </summary>
    public static string CanonicalString(string method, string path, string query, string bodySha256Hex, string timestamp, string nonce) =>
        string.Join('\n', Version, method.ToUpperInvariant(), path, query, bodySha256Hex, timestamp, nonce);

    /// <summary>HMAC-SHA256 of the canonical string, in lower-case hex.</summary>
    public static string Sign(byte[] signingKey, string canonical) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(signingKey, Encoding.UTF8.GetBytes(canonical)));

    /// <summary>Null when the request is signed by the key, fresh and not seen before; otherwise why it is refused.</summary>
    public async Task<string?> VerifyAsync(HttpContext http, ApiKeyState key, CancellationToken cancellationToken)
    {
        var headers = http.Request.Headers;
        var signature = headers[SignatureHeader].ToString();
        var timestamp = headers[TimestampHeader].ToString();
        var nonce = headers[NonceHeader].ToString();
        if (signature.Length == 0 || timestamp.Length == 0 || nonce.Length == 0)
            return $"This API key signs its requests: send {SignatureHeader}, {TimestampHeader} and {NonceHeader} (see docs/security.md).";
        if (!long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
            return $"{TimestampHeader} must be the Unix time in whole seconds.";
        var maxSkew = options.Value.SignatureMaxSkewSeconds;
        var skew = Math.Abs(clock.GetUtcNow().ToUnixTimeSeconds() - seconds);
        if (skew > maxSkew)
            return $"The signature's timestamp is {skew} s away from the server's clock; at most {maxSkew} s is accepted. Sign again with the current time.";
        if (nonce.Length is < MinNonceLength or > MaxNonceLength || !nonce.All(character => char.IsAsciiLetterOrDigit(character) || character is '-' or '_'))
            return $"{NonceHeader} must be {MinNonceLength} to {MaxNonceLength} characters of A-Z, a-z, 0-9, '-' and '_', new for every request.";

        var (path, query) = RawTarget(http);
        var canonical = CanonicalString(http.Request.Method, path, query, await BodySha256Async(http.Request, cancellationToken), timestamp, nonce);
        var expected = HMACSHA256.HashData(key.SecretHash, Encoding.UTF8.GetBytes(canonical));
        if (!TryDecodeHex(signature, out var presented) || !CryptographicOperations.FixedTimeEquals(expected, presented))
            return "The signature does not match the request: the method, path, query, body, timestamp or nonce differs from what was signed, or it was signed with another key.";

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var recorded = await connection.ExecuteAsync(RecordNonceSql,
            new { apiKeyId = key.Id, nonce, timestamp = (double)seconds, maxSkewSeconds = (double)maxSkew, cancellationToken });
        return recorded == 0 ? "This nonce was already used: a signed request is accepted once. Sign each request with a new nonce." : null;
    }

    /// <summary>The path and query exactly as the client sent them, so no decoding or re-encoding can make the two sides disagree.</summary>
    private static (string Path, string Query) RawTarget(HttpContext http)
    {
        var target = http.Features.Get<IHttpRequestFeature>()?.RawTarget is { Length: > 0 } raw
            ? raw
            : http.Request.PathBase + http.Request.Path + http.Request.QueryString;
        var question = target.IndexOf('?', StringComparison.Ordinal);
        return question < 0 ? (target, "") : (target[..question], target[(question + 1)..]);
    }

    /// <summary>Hashes the body as it streams in and rewinds it, so the endpoint still reads it.</summary>
    private static async Task<string> BodySha256Async(HttpRequest request, CancellationToken cancellationToken)
    {
        request.EnableBuffering();
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            int read;
            while ((read = await request.Body.ReadAsync(buffer, cancellationToken)) > 0)
                hash.AppendData(buffer, 0, read);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        request.Body.Position = 0;
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static bool TryDecodeHex(string hex, out byte[] bytes)
    {
        bytes = [];
        if (hex.Length != 64)
            return false;
        try
        {
            bytes = Convert.FromHexString(hex);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
