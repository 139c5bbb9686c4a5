using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.ApiKeys;

/// <summary>POST /api-keys: a key acting for the caller with a role no higher than theirs; its secret is shown once.</summary>
public static class CreateApiKey
{
    private const string InsertSql = """
        INSERT INTO api_keys (id, user_id, name, role, prefix, secret_hash, expires_at, require_signature)
        VALUES (@id, @userId, @name, @role, @prefix, decode(@secretHash, 'hex'), @expiresAt, @requireSignature)
        RETURNING created_at
        """;

    public static async Task<Results<Created<CreatedApiKeyResponse>, ProblemHttpResult>> Handle(
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
}
