using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Features.Tasks;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Execution;

public sealed record BulkTaskCommandRequest([property: ApiRequired] List<Guid>? Ids);

/// <summary>
/// One id's outcome: the status code the one-task route would have answered, with the task as it is now (200) or the
/// problem that stopped the command (403, 404, 409).
/// </summary>
public sealed record BulkTaskCommandResult(Guid Id, int Status, TaskResponse? Task = null, ProblemDetails? Problem = null);

public sealed record BulkTaskCommandResultsResponse(IReadOnlyList<BulkTaskCommandResult> Results);

/// <summary>
/// POST /tasks/bulk/{cancel|pause|resume|retry}: the lifecycle command applied to each of up to <see cref="MaxIds"/> ids, in
/// the order given, each in its own transaction exactly as its one-task route runs it (access, legality, audit row,
/// propagation). One id's refusal does not stop the others, so the answer is 200 with every id's own result; an id the
/// caller may not read is a 404 like an id that does not exist.
/// </summary>
public static class BulkTaskCommands
{
    /// <summary>Each id is a transaction of its own (a cancel may propagate far): fewer than a bulk edit's.</summary>
    public const int MaxIds = 100;

    private delegate Task<TaskCommand.Result> Command(Guid id);

    public static Task<Results<Ok<BulkTaskCommandResultsResponse>, ProblemHttpResult>> Cancel(
        BulkTaskCommandRequest request, Caller caller, HttpContext http, NpgsqlDataSource dataSource, IOptions<EngineOptions> options,
        EngineMetrics metrics, CancellationToken cancellationToken) =>
        RunAsync(request, id => CancelTask.ApplyAsync(id, caller, http, dataSource, options.Value, metrics, cancellationToken));

    public static Task<Results<Ok<BulkTaskCommandResultsResponse>, ProblemHttpResult>> Pause(
        BulkTaskCommandRequest request, Caller caller, HttpContext http, NpgsqlDataSource dataSource, CancellationToken cancellationToken) =>
        RunAsync(request, id => PauseTask.ApplyAsync(id, caller, http, dataSource, cancellationToken));

    public static Task<Results<Ok<BulkTaskCommandResultsResponse>, ProblemHttpResult>> Resume(
        BulkTaskCommandRequest request, Caller caller, HttpContext http, NpgsqlDataSource dataSource, CancellationToken cancellationToken) =>
        RunAsync(request, id => ResumeTask.ApplyAsync(id, caller, http, dataSource, cancellationToken));

    public static Task<Results<Ok<BulkTaskCommandResultsResponse>, ProblemHttpResult>> Retry(
        BulkTaskCommandRequest request, Caller caller, HttpContext http, NpgsqlDataSource dataSource, IOptions<EngineOptions> options,
        EngineMetrics metrics, CancellationToken cancellationToken) =>
        RunAsync(request, id => RetryTask.ApplyAsync(id, caller, http, dataSource, options.Value, metrics, cancellationToken));

    private static async Task<Results<Ok<BulkTaskCommandResultsResponse>, ProblemHttpResult>> RunAsync(
        BulkTaskCommandRequest request, Command command)
    {
        var errors = new ValidationErrors();
        var ids = BulkEditTasks.ValidateIds(request.Ids, MaxIds, errors);
        if (!errors.IsEmpty)
            return errors.ToProblem();

        var results = new List<BulkTaskCommandResult>(ids.Length);
        foreach (var id in ids)
        {
            var outcome = await command(id);
            results.Add(outcome.Problem is { ProblemDetails: var problem }
                ? new BulkTaskCommandResult(id, problem.Status ?? StatusCodes.Status409Conflict, Problem: problem)
                : new BulkTaskCommandResult(id, StatusCodes.Status200OK, Task: outcome.Task!.ToResponse()));
        }
        return TypedResults.Ok(new BulkTaskCommandResultsResponse(results));
    }
}
