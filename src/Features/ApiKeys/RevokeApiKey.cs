using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.ApiKeys;

/// <summary>DELETE /api-keys/{id}: the key stops working on every node at once (NOTIFY drops it from every node's cache).</summary>
public static class RevokeApiKey
{
    /// <summary>Owners revoke their own keys; admins any key. Anyone else's key id is not found.</summary>
    private const string RevokeSql = """
        UPDATE api_keys SET revoked_at = now()
        WHERE id = @id AND revoked_at IS NULL AND (user_id = @userId OR @isAdmin)
        RETURNING prefix
        """;

    public static async Task<Results<NoContent, ProblemHttpResult>> Handle(
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
