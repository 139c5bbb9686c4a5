using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.ApiKeys;

public sealed record CreateApiKeyRequest([property: ApiRequired] string? Name, string? Role, DateTime? ExpiresAt, bool? RequireSignature);

public sealed record ApiKeyResponse(
    Guid Id,
    string Name,
    string Role,
    string Prefix,
    DateTime CreatedAt,
    DateTime? ExpiresAt,
    DateTime? LastUsedAt,
    DateTime? RevokedAt,
    bool RequireSignature);

/// <summary>
/// The only response that ever carries the key itself. A key that signs its requests also gets its <c>signing_key</c>
/// (hex, the HMAC key of its signatures) and <c>key_id</c> (what it sends in X-API-Key); it never sends <c>key</c>.
/// </summary>
public sealed record CreatedApiKeyResponse(
    Guid Id,
    string Name,
    string Role,
    string Prefix,
    string Key,
    DateTime CreatedAt,
    DateTime? ExpiresAt,
    bool RequireSignature,
    string? KeyId,
    string? SigningKey);

/// <summary>
/// What the API-key use cases (<see cref="CreateApiKey"/>, <see cref="ListApiKeys"/>, <see cref="RevokeApiKey"/>) share.
/// API keys act for their owner with a role no higher than the owner's. The secret is shown once and stored as a hash;
/// revoking a key takes effect on every node at once (NOTIFY drops it from every node's cache).
/// </summary>
public static class ApiKeys
{
    internal const string SelectSql = """
        SELECT id, name, role, prefix, created_at, expires_at, last_used_at, revoked_at, require_signature
        FROM api_keys
        """;

    internal const string OfCaller = "user_id = @userId";

    /// <summary>Newest first by default, or by name.</summary>
    public static readonly ListDefinition<ApiKeyResponse, ApiKeyResponse> Definition = new(
        new SortKeys<ApiKeyResponse>("id", key => key.Id)
            .Timestamp("created_at", "created_at", key => key.CreatedAt)
            .Text("name", "name", key => key.Name)
            .DefaultSort("-created_at"),
        new ResponseFields<ApiKeyResponse>(AppJsonContext.Default.ApiKeyResponse));
}
