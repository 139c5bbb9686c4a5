using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Npgsql;
using TaskRunner.Infrastructure.Security;
using Xunit;

namespace TaskRunner.Tests.Harness;

/// <summary>A user created for a test, and what it needs to call the API as that user.</summary>
public sealed record TestAccount(Guid Id, string Email, string Password, string Role);

/// <summary>Factories for accounts and authenticated clients, reading like the domain: "a member", "an admin's client".</summary>
public static class Accounts
{
    public const string Password = "correct horse battery staple";

    /// <summary>Hashed once per run: the slow hash is the point in production and a waste in tests.</summary>
    private static readonly Lazy<string> PasswordHash = new(() => PasswordHasher.Hash(Password));

    /// <summary>Inserts a user straight into the database: fast, and free of the "first account is admin" rule.</summary>
    public static async Task<TestAccount> CreateUserAsync(this ServiceFixture service, string role = Roles.Member)
    {
        var id = Guid.CreateVersion7();
        var email = $"{role}-{id:N}@example.test";
        await using var connection = new NpgsqlConnection(service.ConnectionString);
        await connection.OpenAsync();
        await using var insert = new NpgsqlCommand(
            "INSERT INTO users (id, email, display_name, role, password_hash) VALUES ($1, $2, $3, $4, $5)", connection);
        insert.Parameters.AddWithValue(id);
        insert.Parameters.AddWithValue(email);
        insert.Parameters.AddWithValue($"Test {role}");
        insert.Parameters.AddWithValue(role);
        insert.Parameters.AddWithValue(PasswordHash.Value);
        await insert.ExecuteNonQueryAsync();
        return new TestAccount(id, email, Password, role);
    }

    public static async Task<JsonElement> LoginAsync(this HttpClient client, string email, string password)
    {
        using var response = await client.PostAsync("/api/v1/auth/login", TestJson.Body(("email", email), ("password", password)));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"login failed: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    /// <summary>A client carrying a fresh session's access token for the account.</summary>
    public static async Task<HttpClient> ClientForAsync(this ServiceFixture service, TestAccount account)
    {
        var client = service.CreateClient();
        var tokens = await client.LoginAsync(account.Email, account.Password);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", tokens.GetProperty("access_token").GetString());
        return client;
    }

    public static async Task<HttpClient> ClientForNewUserAsync(this ServiceFixture service, string role = Roles.Member) =>
        await service.ClientForAsync(await service.CreateUserAsync(role));

    public static HttpClient WithBearer(this HttpClient client, string accessToken)
    {
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
        return client;
    }

    public static HttpClient WithApiKey(this HttpClient client, string key)
    {
        client.DefaultRequestHeaders.Add("X-API-Key", key);
        return client;
    }
}
