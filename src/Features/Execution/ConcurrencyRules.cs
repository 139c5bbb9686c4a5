using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Features.Tasks;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Execution;

public sealed record CreateConcurrencyRuleRequest([property: ApiRequired] string? ConcurrencyKey, [property: ApiRequired] int? MaxRunning);

/// <summary>A rule and, for operators, how many tasks with its key run right now.</summary>
public sealed record ConcurrencyRuleResponse(Guid Id, string ConcurrencyKey, int MaxRunning, int Running, DateTime CreatedAt);

/// <summary>
/// GET|POST /concurrency-rules, DELETE /concurrency-rules/{id}. A concurrency key is global — tasks of every project that
/// carry it share its limit — so any signed-in caller may read the rules but only admins create or delete them: a
/// member's rule would throttle other teams' tasks. A rule created while more tasks than its limit run admits nothing new
/// until they are below it; deleting a rule lifts the limit at once.
/// </summary>
public static class ConcurrencyRules
{
    public const int MaxRunningLimit = 100_000;

    private const string ListSql = """
        SELECT r.id, r.concurrency_key, r.max_running,
               (SELECT count(*)::int FROM task_states x WHERE x.concurrency_key = r.concurrency_key AND x.status = 'running') AS running,
               r.created_at
        FROM concurrency_rules r
        ORDER BY r.concurrency_key
        """;

    private const string InsertSql = """
        INSERT INTO concurrency_rules (id, concurrency_key, max_running, created_by)
        VALUES (@id, @concurrencyKey, @maxRunning, @createdBy)
        RETURNING id, concurrency_key, max_running,
                  (SELECT count(*)::int FROM task_states x WHERE x.concurrency_key = @concurrencyKey AND x.status = 'running') AS running,
                  created_at
        """;

    private const string DeleteSql = "DELETE FROM concurrency_rules WHERE id = @id RETURNING concurrency_key";

    internal sealed record RuleRow(Guid Id, string ConcurrencyKey, int MaxRunning, int Running, DateTime CreatedAt)
    {
        public ConcurrencyRuleResponse ToResponse() => new(Id, ConcurrencyKey, MaxRunning, Running, CreatedAt);
    }

    public static async Task<Ok<ListResponse<ConcurrencyRuleResponse>>> List(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<RuleRow>(ListSql, new { cancellationToken });
        return TypedResults.Ok(new ListResponse<ConcurrencyRuleResponse>(rows.Select(row => row.ToResponse()).ToList(), null, false));
    }

    public static async Task<Results<Created<ConcurrencyRuleResponse>, ProblemHttpResult>> Create(
        CreateConcurrencyRuleRequest request, Caller caller, HttpContext http, NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        if (request.ConcurrencyKey is null)
            errors.Add("concurrency_key", "is required");
        TaskRules.Key(errors, "concurrency_key", request.ConcurrencyKey);
        if (request.MaxRunning is not (>= 1 and <= MaxRunningLimit))
            errors.Add("max_running", $"is required and must be between 1 and {MaxRunningLimit}");
        if (!errors.IsEmpty)
            return errors.ToProblem();

        try
        {
            var row = await dataSource.InTransactionAsync(async (connection, transaction) =>
            {
                var created = await connection.QuerySingleAsync<RuleRow>(InsertSql, new
                {
                    id = Ids.New(), concurrencyKey = request.ConcurrencyKey, maxRunning = request.MaxRunning, createdBy = caller.UserId,
                    cancellationToken,
                }, transaction);
                await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("concurrency_rule.create", "concurrency_rule",
                    created.Id.ToString(), AuditActor.From(http, caller),
                    new AuditDiff().Change("concurrency_key", null, created.ConcurrencyKey).Change("max_running", null, created.MaxRunning).ToJson()),
                    cancellationToken);
                return created;
            }, cancellationToken);
            return TypedResults.Created($"/api/v1/concurrency-rules/{row.Id}", row.ToResponse());
        }
        catch (PostgresException e) when (PgErrors.IsUniqueViolation(e))
        {
            return Problems.Conflict($"A rule for the concurrency key '{request.ConcurrencyKey}' already exists; delete it first to change the limit.");
        }
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> Delete(
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
