using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Schedules;

/// <summary>DELETE /schedules/{id}: editors delete a schedule; it stops firing at once. Tasks it created stay.</summary>
public static class DeleteSchedule
{
    private const string DeleteSql = """
        UPDATE schedules SET deleted_at = now(), enabled = false, next_fire_at = NULL WHERE id = @id
        """;

    public static async Task<Results<NoContent, ProblemHttpResult>> Handle(
        Guid id, Caller caller, HttpContext http, NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        if (!caller.CanWrite)
            return Problems.Forbidden("Viewers cannot delete schedules.");
        var problem = await dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            var (row, problem) = await ScheduleAccess.LockForChangeAsync(connection, transaction, caller, id, cancellationToken);
            if (problem is not null)
                return problem;
            await connection.ExecuteAsync(DeleteSql, new { id, cancellationToken }, transaction);
            await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("schedule.delete", "schedule", id.ToString(),
                AuditActor.From(http, caller),
                new AuditDiff().Change("project_id", row!.ProjectId.ToString(), null).Change("cron", row.Cron, null).ToJson()),
                cancellationToken);
            return (ProblemHttpResult?)null;
        }, cancellationToken);
        return problem is null ? TypedResults.NoContent() : problem;
    }
}
