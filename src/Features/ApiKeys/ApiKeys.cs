using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Audit;
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
/// API keys act for their owner with a role no higher than the owner's. The secret is shown once and stored as a hash;
/// revoking a key takes effect on every node at once (NOTIFY drops it from every node's cache).
/// </summary>
public static class ApiKeys
{
    private const string InsertSql = """
        INSERT INTO api_keys (id, user_id, name, role, prefix, secret_hash, expires_at, require_signature)
        VALUES (@id, @userId, @name, @role, @prefix, decode(@secretHash, 'hex'), @expiresAt, @requireSignature)
        RETURNING created_at
        """;

    private const string SelectSql = """
        SELECT id, name, role, prefix, created_at, expires_at, last_used_at, revoked_at, require_signature
        FROM api_keys
        """;

    private const string OfCaller = "user_id = @userId";

    /// <summary>Newest first by default, or by name.</summary>
    public static readonly ListDefinition<ApiKeyResponse, ApiKeyResponse> Definition = new(
        new SortKeys<ApiKeyResponse>("id", key => key.Id)
            .Timestamp("created_at", "created_at", key => key.CreatedAt)
            .Text("name", "name", key => key.Name)
            .DefaultSort("-created_at"),
        new ResponseFields<ApiKeyResponse>(AppJsonContext.Default.ApiKeyResponse));

    /// <summary>Owners revoke their own keys; admins any key. Anyone else's key id is not found.</summary>
    private const string RevokeSql = """
        UPDATE api_keys SET revoked_at = now()
        WHERE id = @id AND revoked_at IS NULL AND (user_id = @userId OR @isAdmin)
        RETURNING prefix
        """;

    public static async Task<Results<Created<CreatedApiKeyResponse>, ProblemHttpResult>> Create(
        CreateApiKeyRequest request,
        Caller caller,
        HttpContext http,
        NpgsqlDataSource dataSource,
        TimeProvider clock,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        errors.RequireLength("name", request.Name?.Trim(), 1, 100);
        var role = request.Role ?? caller.Role;
        if (!Roles.All.Contains(role))
            errors.Add("role", "must be one of admin, member, viewer");
        if (request.ExpiresAt is { } expires && expires.ToUniversalTime() <= clock.GetUtcNow().UtcDateTime)
            errors.Add("expires_at", "must be in the future");
        if (!errors.IsEmpty)
            return errors.ToProblem();
        if (Roles.Rank(role) > Roles.Rank(caller.Role))
        {
            await using var auditConnection = await dataSource.OpenConnectionAsync(cancellationToken);
            await AuditWriter.WriteAsync(auditConnection, null, new AuditEntry("api_key.create_denied", "api_key", null,
                AuditActor.From(http, caller), new AuditDiff().Change("role", caller.Role, role).ToJson()), cancellationToken);
            return Problems.Forbidden($"A key cannot have a higher role than its creator ({caller.Role}).");
        }

        var name = request.Name!.Trim();
        var id = Ids.New();
        var prefix = OpaqueTokens.Alphanumeric(ApiKeyFormat.PrefixLength);
        var secret = OpaqueTokens.New();
        var expiresAt = request.ExpiresAt?.ToUniversalTime();
        var requireSignature = request.RequireSignature ?? false;
        var secretHash = OpaqueTokens.HashHex(secret);
        var createdAt = await dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            var created = await connection.ExecuteScalarAsync<DateTime>(InsertSql, new
            {
                id,
                userId = caller.UserId,
                name,
                role,
                prefix,
                secretHash,
                expiresAt,
                requireSignature,
                cancellationToken,
            }, transaction);
            await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("api_key.create", "api_key", id.ToString(),
                AuditActor.From(http, caller),
                new AuditDiff().Change("name", null, name).Change("role", null, role).Change("require_signature", false, requireSignature).ToJson()),
                cancellationToken);
            return created;
        }, cancellationToken);
        http.Response.Headers.CacheControl = "no-store";
        return TypedResults.Created($"/api/v1/auth/api-keys/{id}",
            new CreatedApiKeyResponse(id, name, role, prefix, ApiKeyFormat.Compose(prefix, secret), createdAt, expiresAt, requireSignature,
                requireSignature ? ApiKeyFormat.Id(prefix) : null, requireSignature ? secretHash : null));
    }

    public static async Task<Results<ListResult<ApiKeyResponse>, ProblemHttpResult>> List(
        [AsParameters] PageQuery query, Caller caller, NpgsqlDataSource dataSource, ListPaging paging, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var page = paging.Parse(query, Definition, new CursorBinding("api-keys"), errors);
        if (page is null)
            return errors.ToQueryProblem();

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        var keys = await new FilteredQuery(command).Where(OfCaller, "userId", caller.UserId)
            .ReadPageAsync(SelectSql, page.Keyset, Read, cancellationToken);
        return page.Result(keys, key => key);
    }

    private static ApiKeyResponse Read(NamedRow row) => new(
        row.Get<Guid>("id"), row.Get<string>("name"), row.Get<string>("role"), row.Get<string>("prefix"), row.Get<DateTime>("created_at"),
        row.Get<DateTime?>("expires_at"), row.Get<DateTime?>("last_used_at"), row.Get<DateTime?>("revoked_at"), row.Get<bool>("require_signature"));

    public static async Task<Results<NoContent, ProblemHttpResult>> Revoke(
        Guid id, Caller caller, HttpContext http, NpgsqlDataSource dataSource, CallerStateCache cache, CancellationToken cancellationToken)
    {
        var prefix = await dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            var revoked = await connection.QuerySingleOrDefaultAsync<string>(RevokeSql,
                new { id, userId = caller.UserId, isAdmin = caller.IsAdmin, cancellationToken }, transaction);
            if (revoked is not null)
            {
                await AuthChanges.PublishAsync(connection, transaction, AuthChanges.ApiKey(revoked), cancellationToken);
                await AuditWriter.WriteAsync(connection, transaction,
                    new AuditEntry("api_key.revoke", "api_key", id.ToString(), AuditActor.From(http, caller)), cancellationToken);
            }
            return revoked;
        }, cancellationToken);
        if (prefix is null)
            return Problems.NotFound("No such API key.");
        cache.Apply(AuthChanges.ApiKey(prefix));
        return TypedResults.NoContent();
    }
}
