using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Features.Tasks;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Execution;

/// <summary>POST /concurrency-rules: admins limit how many tasks with a key run at once; a rule created while more run admits
/// nothing new until they are below it.</summary>
public static class CreateConcurrencyRule
{
    private const string InsertSql = """
        INSERT INTO concurrency_rules (id, concurrency_key, max_running, created_by)
        VALUES (@id, @concurrencyKey, @maxRunning, @createdBy)
        RETURNING id, concurrency_key, max_running,
                  (SELECT count(*)::int FROM task_states x WHERE x.concurrency_key = @concurrencyKey AND x.status = 'running') AS running,
                  created_at
        """;

    public static async Task<Results<Created<ConcurrencyRuleResponse>, ProblemHttpResult>> Handle(
        CreateConcurrencyRuleRequest request, Caller caller, HttpContext http, NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        if (request.ConcurrencyKey is null)
            errors.Add("concurrency_key", "is required");
        TaskRules.Key(errors, "concurrency_key", request.ConcurrencyKey);
        if (request.MaxRunning is not (>= 1 and <= ConcurrencyRules.MaxRunningLimit))
            errors.Add("max_running", $"is required and must be between 1 and {ConcurrencyRules.MaxRunningLimit}");
        if (!errors.IsEmpty)
            return errors.ToProblem();

        try
        {
            var row = await dataSource.InTransactionAsync(async (connection, transaction) =>
            {
                var created = await connection.QuerySingleAsync<ConcurrencyRules.RuleRow>(InsertSql, new
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
}
