using System.Net;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Auth;

/// <summary>Only tokens this service signed, for a live session, within their lifetime, get in.</summary>
public sealed class AccessTokenTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private static string Mint(string base64Key, string keyId, Guid userId, Guid sessionId, DateTime expires, string audience = "taskrunner-api")
    {
        var key = new SymmetricSecurityKey(Convert.FromBase64String(base64Key)) { KeyId = keyId };
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = "taskrunner",
            Audience = audience,
            IssuedAt = expires.AddMinutes(-15),
            NotBefore = expires.AddMinutes(-15),
            Expires = expires,
            Claims = new Dictionary<string, object> { ["sub"] = userId.ToString(), ["sid"] = sessionId.ToString() },
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.HmacSha256),
        });
    }

    private async Task<(Guid UserId, Guid SessionId)> LiveSessionAsync()
    {
        var account = await service.CreateUserAsync();
        using var client = service.CreateClient();
        var tokens = await client.LoginAsync(account.Email, account.Password);
        return (account.Id, Guid.Parse(tokens.GetProperty("session_id").GetString()!));
    }

    private async Task AssertRejectedAsync(string token)
    {
        using var client = service.CreateClient().WithBearer(token);
        using var response = await client.GetAsync("/api/v1/users/me");
        await response.AssertProblemAsync(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task ATokenMintedWithTheServiceKeyForALiveSessionIsAccepted()
    {
        var (userId, sessionId) = await LiveSessionAsync();
        using var client = service.CreateClient().WithBearer(Mint(ServiceFixture.JwtKey, ServiceFixture.JwtKeyId, userId, sessionId, DateTime.UtcNow.AddMinutes(5)));

        using var response = await client.GetAsync("/api/v1/users/me");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task ATokenSignedWithAForeignKeyIsRejected()
    {
        var (userId, sessionId) = await LiveSessionAsync();
        var foreignKey = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));

        await AssertRejectedAsync(Mint(foreignKey, ServiceFixture.JwtKeyId, userId, sessionId, DateTime.UtcNow.AddMinutes(5)));
    }

    [Fact]
    public async Task AnExpiredTokenIsRejected()
    {
        var (userId, sessionId) = await LiveSessionAsync();

        await AssertRejectedAsync(Mint(ServiceFixture.JwtKey, ServiceFixture.JwtKeyId, userId, sessionId, DateTime.UtcNow.AddMinutes(-5)));
    }

    [Fact]
    public async Task ATokenForAnotherAudienceIsRejected()
    {
        var (userId, sessionId) = await LiveSessionAsync();

        await AssertRejectedAsync(Mint(ServiceFixture.JwtKey, ServiceFixture.JwtKeyId, userId, sessionId, DateTime.UtcNow.AddMinutes(5), "someone-else"));
    }

    [Fact]
    public async Task ATokenForASessionThatDoesNotExistIsRejected()
    {
        var (userId, _) = await LiveSessionAsync();

        await AssertRejectedAsync(Mint(ServiceFixture.JwtKey, ServiceFixture.JwtKeyId, userId, Guid.NewGuid(), DateTime.UtcNow.AddMinutes(5)));
    }

    [Theory]
    [InlineData("not-a-jwt")]
    [InlineData("a.b.c")]
    [InlineData("")]
    public async Task AMalformedBearerTokenIs401NotA500(string token)
    {
        using var client = service.CreateClient();
        client.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", "Bearer " + token);

        using var response = await client.GetAsync("/api/v1/users/me");

        await response.AssertProblemAsync(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task AnOversizedBearerTokenIs401NotA500()
    {
        using var client = service.CreateClient();
        client.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", "Bearer " + new string('a', 16_000));

        using var response = await client.GetAsync("/api/v1/users/me");

        Assert.True(response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.RequestHeaderFieldsTooLarge,
            $"got {(int)response.StatusCode}");
    }
}
