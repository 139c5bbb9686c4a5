using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Execution;

/// <summary>DELETE /concurrency-rules/{id}: admins remove a rule, which lifts the limit at once.</summary>
public static class DeleteConcurrencyRule
{
    private const string DeleteSql = "DELETE FROM concurrency_rules WHERE id = @id RETURNING concurrency_key";

    public static async Task<Results<NoContent, ProblemHttpResult>> Handle(
        Guid id, Caller caller, HttpContext http, NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        var deleted = await dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            var key = await connection.QuerySingleOrDefaultAsync<string>(DeleteSql, new { id, cancellationToken }, transaction);
            if (key is not null)
                await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("concurrency_rule.delete", "concurrency_rule",
                    id.ToString(), AuditActor.From(http, caller), new AuditDiff().Change("concurrency_key", key, null).ToJson()), cancellationToken);
            return key is not null;
        }, cancellationToken);
        return deleted ? TypedResults.NoContent() : Problems.NotFound("No such concurrency rule.");
    }
}
