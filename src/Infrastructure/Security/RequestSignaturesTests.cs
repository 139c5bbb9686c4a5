using System.Net;
using System.Security.Cryptography;
using System.Text;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Security;

public sealed class RequestSignaturesTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    /// <summary>A key created with require_signature: its id (sent in X-API-Key) and its signing key (hex).</summary>
    private sealed record SigningKey(string KeyId, string Key, string SigningKeyHex);

    private async Task<SigningKey> CreateSigningKeyAsync()
    {
        using var owner = await service.ClientForNewUserAsync();
        using var response = await owner.PostAsync("/api/v1/auth/api-keys", TestJson.Body(("name", "signed"), ("require_signature", true)));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var created = await response.ReadJsonAsync();
        Assert.True(created.GetProperty("require_signature").GetBoolean());
        return new SigningKey(created.GetProperty("key_id").GetString()!, created.GetProperty("key").GetString()!,
            created.GetProperty("signing_key").GetString()!);
    }

    /// <summary>Signs as docs/security.md tells a client to: v1, method, path, query, body SHA-256, timestamp, nonce.</summary>
    private static HttpRequestMessage Signed(SigningKey key, HttpMethod method, string pathAndQuery, string? body,
        long? timestamp = null, string? nonce = null)
    {
        var question = pathAndQuery.IndexOf('?', StringComparison.Ordinal);
        var (path, query) = question < 0 ? (pathAndQuery, "") : (pathAndQuery[..question], pathAndQuery[(question + 1)..]);
        var time = (timestamp ?? DateTimeOffset.UtcNow.ToUnixTimeSeconds()).ToString(System.Globalization.CultureInfo.InvariantCulture);
        nonce ??= Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var bodyHash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(body ?? "")));
        var canonical = string.Join('\n', "v1", method.Method, path, query, bodyHash, time, nonce);
        var signature = Convert.ToHexStringLower(HMACSHA256.HashData(Convert.FromHexString(key.SigningKeyHex), Encoding.UTF8.GetBytes(canonical)));
        var request = new HttpRequestMessage(method, pathAndQuery);
        if (body is not null)
            request.Content = TestJson.Raw(body);
        request.Headers.Add("X-API-Key", key.KeyId);
        request.Headers.Add("X-Signature", signature);
        request.Headers.Add("X-Signature-Timestamp", time);
        request.Headers.Add("X-Signature-Nonce", nonce);
        return request;
    }

    /// <summary>A copy of a request with its headers, and another body if given (what a replay or a tamperer sends).</summary>
    private static async Task<HttpRequestMessage> CopyAsync(HttpRequestMessage original, string? body = null)
    {
        var copy = new HttpRequestMessage(original.Method, original.RequestUri);
        foreach (var (name, values) in original.Headers)
            copy.Headers.TryAddWithoutValidation(name, values);
        if (body is not null || original.Content is not null)
            copy.Content = TestJson.Raw(body ?? await original.Content!.ReadAsStringAsync());
        return copy;
    }

    private static async Task<string> RefusalAsync(HttpResponseMessage response)
    {
        var problem = await response.AssertProblemAsync(HttpStatusCode.Unauthorized);
        return problem.GetProperty("detail").GetString()!;
    }

    [Fact]
    public async Task ASignedRequestIsAcceptedOnceAndItsReplayIsRefused()
    {
        var key = await CreateSigningKeyAsync();
        using var client = service.CreateClient();
        using var original = Signed(key, HttpMethod.Post, "/api/v1/projects", """{"name":"signed project"}""");
        using var replay = await CopyAsync(original);

        using var accepted = await client.SendAsync(original);
        using var replayed = await client.SendAsync(replay);

        Assert.Equal(HttpStatusCode.Created, accepted.StatusCode);
        Assert.Equal("signed project", (await accepted.ReadJsonAsync()).GetProperty("name").GetString());
        Assert.Contains("nonce was already used", await RefusalAsync(replayed));
    }

    [Fact]
    public async Task ABodyChangedAfterSigningIsRefused()
    {
        var key = await CreateSigningKeyAsync();
        using var client = service.CreateClient();
        using var signed = Signed(key, HttpMethod.Post, "/api/v1/projects", """{"name":"as signed"}""");
        using var tampered = await CopyAsync(signed, """{"name":"changed on the way"}""");

        using var response = await client.SendAsync(tampered);

        Assert.Contains("does not match the request", await RefusalAsync(response));
        Assert.Empty(await service.QueryTextAsync("SELECT name FROM projects WHERE name = 'changed on the way'"));
    }

    [Fact]
    public async Task AQueryChangedAfterSigningIsRefused()
    {
        var key = await CreateSigningKeyAsync();
        using var client = service.CreateClient();
        using var signed = Signed(key, HttpMethod.Get, "/api/v1/projects?limit=1", null);
        using var tampered = new HttpRequestMessage(HttpMethod.Get, "/api/v1/projects?limit=2");
        foreach (var (name, values) in signed.Headers)
            tampered.Headers.TryAddWithoutValidation(name, values);

        using var response = await client.SendAsync(tampered);

        Assert.Contains("does not match the request", await RefusalAsync(response));
    }

    [Theory]
    [InlineData(-301)]
    [InlineData(301)]
    public async Task ATimestampOutsideTheAllowedSkewIsRefused(int secondsAway)
    {
        var key = await CreateSigningKeyAsync();
        using var client = service.CreateClient();
        using var stale = Signed(key, HttpMethod.Get, "/api/v1/users/me", null, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + secondsAway);

        using var response = await client.SendAsync(stale);

        Assert.Contains("away from the server's clock", await RefusalAsync(response));
    }

    [Fact]
    public async Task ASigningKeyIsRefusedWhenItTravelsItselfOrComesUnsigned()
    {
        var key = await CreateSigningKeyAsync();
        using var withSecret = service.CreateClient().WithApiKey(key.Key);
        using var unsigned = service.CreateClient().WithApiKey(key.KeyId);

        using var sentItself = await withSecret.GetAsync("/api/v1/users/me");
        using var notSigned = await unsigned.GetAsync("/api/v1/users/me");

        Assert.Contains("never the key itself", await RefusalAsync(sentItself));
        Assert.Contains("X-Signature-Nonce", await RefusalAsync(notSigned));
    }

    [Fact]
    public async Task ASignatureWithAnotherKeyOrAMalformedNonceIsRefused()
    {
        var key = await CreateSigningKeyAsync();
        var other = await CreateSigningKeyAsync();
        using var client = service.CreateClient();
        using var forged = Signed(key with { SigningKeyHex = other.SigningKeyHex }, HttpMethod.Get, "/api/v1/users/me", null);
        using var shortNonce = Signed(key, HttpMethod.Get, "/api/v1/users/me", null, nonce: "short");

        using var forgedResponse = await client.SendAsync(forged);
        using var shortNonceResponse = await client.SendAsync(shortNonce);

        Assert.Contains("does not match the request", await RefusalAsync(forgedResponse));
        Assert.Contains("X-Signature-Nonce must be", await RefusalAsync(shortNonceResponse));
    }

    [Fact]
    public async Task AnOrdinaryKeyStillSendsItselfAndCannotSendOnlyItsId()
    {
        using var owner = await service.ClientForNewUserAsync();
        using var created = await owner.PostAsync("/api/v1/auth/api-keys", TestJson.Body(("name", "plain")));
        var body = await created.ReadJsonAsync();
        Assert.False(body.GetProperty("require_signature").GetBoolean());
        Assert.False(body.TryGetProperty("signing_key", out _));
        var whole = body.GetProperty("key").GetString()!;
        using var plain = service.CreateClient().WithApiKey(whole);
        using var idOnly = service.CreateClient().WithApiKey("trk_" + body.GetProperty("prefix").GetString());

        using var accepted = await plain.GetAsync("/api/v1/users/me");
        using var refused = await idOnly.GetAsync("/api/v1/users/me");

        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        Assert.Contains("does not sign its requests", await RefusalAsync(refused));
    }
}
