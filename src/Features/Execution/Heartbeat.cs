using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Execution;

/// <summary>A worker's sign of life; <see cref="LeaseSeconds"/> changes the extension (default: the claim's).</summary>
public sealed record HeartbeatRequest([property: ApiRequired] long? LeaseToken, int? LeaseSeconds);

public sealed record HeartbeatResponse(DateTime LeaseExpiresAt, DateTime? TimeoutAt);

/// <summary>
/// POST /tasks/{id}/heartbeat: extends the lease (and the timeout deadline) of a running task whose current token the
/// worker presents. Only the narrow task_leases row changes, never the task. A worker whose task was cancelled meanwhile
/// is told to stop (409 with <c>"cancelled": true</c>); one whose lease was taken over gets a plain 409.
/// </summary>
public static class Heartbeat
{
    // The task row is only read (status, timeout, access); the lease row is the one updated, matched on its token.
    private const string ExtendSql = """
        UPDATE task_leases l
        SET expires_at = now() + make_interval(secs => coalesce(@leaseSeconds, l.lease_seconds)),
            lease_seconds = coalesce(@leaseSeconds, l.lease_seconds),
            heartbeat_at = now(),
            timeout_at = now() + make_interval(secs => t.timeout_seconds)
        FROM tasks t
        WHERE l.task_id = @id AND l.lease_token = @leaseToken
          AND t.id = l.task_id AND t.status = 'running' AND t.deleted_at IS NULL
          AND
        """ + ProjectAccess.OnTaskRow + """

        RETURNING l.expires_at, l.timeout_at
        """;

    // Why the heartbeat did not match: the task is gone (or not the caller's), ended, or its lease is someone else's now.
    private const string DiagnoseSql = """
        SELECT t.status FROM tasks t
        WHERE t.id = @id AND t.deleted_at IS NULL
          AND
        """ + ProjectAccess.OnTaskRow;

    internal sealed record LeaseRow(DateTime ExpiresAt, DateTime? TimeoutAt);

    public static async Task<Results<Ok<HeartbeatResponse>, ProblemHttpResult>> Handle(
        Guid id, HeartbeatRequest request, Caller caller, NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        if (request.LeaseToken is null)
            errors.Add("lease_token", "is required");
        if (request.LeaseSeconds is < ClaimTasks.MinLeaseSeconds or > ClaimTasks.MaxLeaseSeconds)
            errors.Add("lease_seconds", $"must be between {ClaimTasks.MinLeaseSeconds} and {ClaimTasks.MaxLeaseSeconds}");
        if (!errors.IsEmpty)
            return errors.ToProblem();

        var access = ProjectAccess.Bind(caller, ProjectRoles.Editor);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var extended = await connection.QuerySingleOrDefaultAsync<LeaseRow>(ExtendSql, new
        {
            id, leaseToken = request.LeaseToken, leaseSeconds = request.LeaseSeconds, access.CallerId, access.CallerIsAdmin, access.CallerCanWrite, access.RequiredRank, cancellationToken,
        });
        if (extended is not null)
            return TypedResults.Ok(new HeartbeatResponse(extended.ExpiresAt, extended.TimeoutAt));

        var status = await connection.QuerySingleOrDefaultAsync<string>(DiagnoseSql, access.On(id, cancellationToken));
        return status switch
        {
            null => Problems.NotFound("No such task."),
            "cancelled" => Cancelled(),
            "running" => Problems.Conflict("The lease token is not this task's current lease: the lease expired and the task was claimed again."),
            _ => Problems.Conflict($"The task is {status}, not running."),
        };
    }

    /// <summary>409 telling the worker to stop: the task was cancelled while it ran.</summary>
    private static ProblemHttpResult Cancelled()
    {
        var problem = new ProblemDetails
        {
            Status = StatusCodes.Status409Conflict,
            Title = "Conflict",
            Detail = "The task was cancelled; stop working on it.",
        };
        problem.Extensions["cancelled"] = true;
        return TypedResults.Problem(problem);
    }
}
