using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Features.Tasks;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Execution;

/// <summary>POST /tasks/{id}/resume: a paused task is pending again (and, if ready, wakes waiting claimers at commit).</summary>
public static class ResumeTask
{
    private const string ResumeSql = "UPDATE tasks SET status = 'pending' WHERE id = @id AND status = 'paused'";

    public static async Task<Results<Ok<TaskResponse>, ProblemHttpResult>> Handle(
        Guid id, Caller caller, HttpContext http, NpgsqlDataSource dataSource, CancellationToken cancellationToken) =>
        TaskCommand.Answer(http, await ApplyAsync(id, caller, http, dataSource, cancellationToken));

    internal static Task<TaskCommand.Result> ApplyAsync(
        Guid id, Caller caller, HttpContext http, NpgsqlDataSource dataSource, CancellationToken cancellationToken) =>
        TaskCommand.ApplyAsync("resume", id, [TaskRules.Paused], caller, http, dataSource,
            async (connection, transaction) =>
            {
                await connection.ExecuteAsync(ResumeSql, new { id, cancellationToken }, transaction);
                return 0;
            }, cancellationToken);
}
