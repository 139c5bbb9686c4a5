using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Features.Tasks;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Execution;

/// <summary>POST /tasks/{id}/pause: a pending task is held back (paused) until resumed; it keeps counting its parents.</summary>
public static class PauseTask
{
    private const string PauseSql = "UPDATE tasks SET status = 'paused' WHERE id = @id AND status = 'pending'";

    public static async Task<Results<Ok<TaskResponse>, ProblemHttpResult>> Handle(
        Guid id, Caller caller, HttpContext http, NpgsqlDataSource dataSource, CancellationToken cancellationToken) =>
        TaskCommand.Answer(http, await ApplyAsync(id, caller, http, dataSource, cancellationToken));

    internal static Task<TaskCommand.Result> ApplyAsync(
        Guid id, Caller caller, HttpContext http, NpgsqlDataSource dataSource, CancellationToken cancellationToken) =>
        TaskCommand.ApplyAsync("pause", id, [TaskRules.Pending], caller, http, dataSource,
            async (connection, transaction) =>
            {
                await connection.ExecuteAsync(PauseSql, new { id, cancellationToken }, transaction);
                return 0;
            }, cancellationToken);
}
