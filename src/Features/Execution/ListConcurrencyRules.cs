using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Http;

namespace TaskRunner.Features.Execution;

/// <summary>GET /concurrency-rules: every rule with its key's running count, for any signed-in caller (a key is global).</summary>
public static class ListConcurrencyRules
{
    private const string ListSql = """
        SELECT r.id, r.concurrency_key, r.max_running,
               (SELECT count(*)::int FROM task_states x WHERE x.concurrency_key = r.concurrency_key AND x.status = 'running') AS running,
               r.created_at
        FROM concurrency_rules r
        ORDER BY r.concurrency_key
        """;

    public static async Task<Ok<ListResponse<ConcurrencyRuleResponse>>> Handle(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<ConcurrencyRules.RuleRow>(ListSql, new { cancellationToken });
        return TypedResults.Ok(new ListResponse<ConcurrencyRuleResponse>(rows.Select(row => row.ToResponse()).ToList(), null, false));
    }
}
