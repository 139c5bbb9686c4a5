using Microsoft.AspNetCore.Http.Timeouts;
using TaskRunner.Features.Tasks;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.RateLimiting;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Execution;

public static class ExecutionEndpoints
{
    public static IServiceCollection AddExecutionFeature(this IServiceCollection services)
    {
        services.AddSingleton<EngineMetrics>();
        services.AddSingleton<IStartedAttemptCompletion, StartedAttemptCompletion>();
        services.AddSingleton<ReadyTasks>();
        services.AddHostedService(provider => provider.GetRequiredService<ReadyTasks>());
        // After ReadyTasks: hosts stop in reverse order, so the dispatcher stops before the wake-ups it waits on.
        services.AddHostedService<Dispatcher>();
        services.AddHostedService<Sweeper>();
        return services;
    }

    public static IEndpointRouteBuilder MapExecution(this IEndpointRouteBuilder api)
    {
        var tasks = api.MapGroup("/tasks")
            .WithTags("Execution")
            .RequireAuthorization()
            .ProducesProblem(StatusCodes.Status401Unauthorized);

        tasks.MapPost("/claim", ClaimTasks.Handle)
            .WithName("ClaimTasks")
            .WithMetadata(new DisableRequestTimeoutAttribute()) // a claim with wait_seconds long-polls
            .WithRouteLimits(RateLimitPolicies.Worker)
            .WithSummary("Claim ready tasks")
            .WithDescription("Pull workers: atomically claim up to `limit` (≤ 100) ready tasks — highest priority, then oldest — of the projects "
                + "the caller edits (workers use an API key of a project editor), respecting concurrency limits. Each comes back running with a "
                + "`lease_token` (fencing token), `lease_expires_at` and its parents' results. With `wait_seconds` (≤ 30) the call long-polls "
                + "until work is ready. Tasks with a `start` action are never claimed: the leader pushes them. An expired lease is taken "
                + "back by the leader's sweeper: the task is ready again while it has retries left, else it fails.")
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        tasks.MapPost("/complete", CompleteTasks.CompleteMany)
            .WithName("CompleteTasksInBulk")
            .WithRouteLimits(RateLimitPolicies.Worker)
            .WithSummary("Report many outcomes")
            .WithDescription("Report up to 100 outcomes in one transaction; each report gets its own result (`ok`, `conflict` — not running or a "
                + "stale lease token, nothing changed — or `not_found`).")
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        tasks.MapPost("/{id:guid}/complete", CompleteTasks.CompleteOne)
            .WithName("CompleteTask")
            .WithRouteLimits(RateLimitPolicies.Worker)
            .WithSummary("Report a task's outcome")
            .WithDescription("Report a running task's outcome (`succeeded` or `failed`, with `output`/`error`). A claimed task's report must carry "
                + "its current `lease_token` (409 otherwise, nothing changes). A failure with retries left goes back to pending with backoff; "
                + "otherwise children are released, and descendants that required success are cancelled as `upstream_failed`.")
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        tasks.MapPost("/{id:guid}/heartbeat", Heartbeat.Handle)
            .WithName("HeartbeatTask")
            .WithRouteLimits(RateLimitPolicies.Worker)
            .WithSummary("Extend a task's lease")
            .WithDescription("Extend a claimed task's lease and timeout. 409 for a stale token; 409 with `\"cancelled\": true` when the task "
                + "was cancelled meanwhile — stop working on it.")
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        tasks.MapPost("/{id:guid}/cancel", CancelTask.Handle)
            .WithName("CancelTask")
            .WithSummary("Cancel a task")
            .WithDescription("Cancel a pending, paused or running task (`cancel_reason: requested`); descendants that required its success are "
                + "cancelled as `upstream_failed`.")
            .ProducesCommandProblems();
        tasks.MapPost("/{id:guid}/pause", PauseTask.Handle)
            .WithName("PauseTask")
            .WithSummary("Pause a task")
            .WithDescription("Hold a pending task back until it is resumed.")
            .ProducesCommandProblems();
        tasks.MapPost("/{id:guid}/resume", ResumeTask.Handle)
            .WithName("ResumeTask")
            .WithSummary("Resume a task")
            .WithDescription("Let a paused task run again.")
            .ProducesCommandProblems();
        tasks.MapPost("/{id:guid}/retry", RetryTask.Handle)
            .WithName("RetryTask")
            .WithSummary("Retry a task")
            .WithDescription("Put a failed, timed-out or cancelled task back to pending, reviving the descendants its failure cancelled.")
            .ProducesCommandProblems();
        tasks.MapPost("/bulk/cancel", BulkTaskCommands.Cancel)
            .WithName("CancelTasksInBulk")
            .WithRouteLimits(RateLimitPolicies.Bulk)
            .WithSummary("Cancel many tasks")
            .WithDescription(BulkCommandDescription("cancel"))
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        tasks.MapPost("/bulk/pause", BulkTaskCommands.Pause)
            .WithName("PauseTasksInBulk")
            .WithRouteLimits(RateLimitPolicies.Bulk)
            .WithSummary("Pause many tasks")
            .WithDescription(BulkCommandDescription("pause"))
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        tasks.MapPost("/bulk/resume", BulkTaskCommands.Resume)
            .WithName("ResumeTasksInBulk")
            .WithRouteLimits(RateLimitPolicies.Bulk)
            .WithSummary("Resume many tasks")
            .WithDescription(BulkCommandDescription("resume"))
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        tasks.MapPost("/bulk/retry", BulkTaskCommands.Retry)
            .WithName("RetryTasksInBulk")
            .WithRouteLimits(RateLimitPolicies.Bulk)
            .WithSummary("Retry many tasks")
            .WithDescription(BulkCommandDescription("retry"))
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        tasks.MapGet("/{id:guid}/attempts", GetTaskAttempts.Handle)
            .WithName("ListTaskAttempts")
            .WithSummary("Every attempt of a task")
            .WithDescription("Oldest first (by `started_at`), paged with `cursor` and `limit`; `fields` selects fields. "
                + "`kind: worker` is a run of the task (`number` is its attempt; `outcome` running, succeeded, failed, timed_out or "
                + "cancelled — the reported outcome even when a retry followed; `worker` is the claim's worker name, `push` for a "
                + "pushed task). `kind: delivery` is one try at sending one of its webhooks (`number` is the delivery's attempt; "
                + "`outcome` delivered or failed; `node`, `status_code`, `delivery_id`, `trigger`). Worker attempts are recorded "
                + "when they end, from schema version 33 on; earlier ended attempts are not listed. 404 for a task the caller "
                + "may not read or that is deleted.")
            .ProducesValidationProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        tasks.MapGet("/{id:guid}/graph", TaskGraph.Handle)
            .WithName("GetTaskGraph")
            .WithSummary("Get a task's graph")
            .WithDescription("The task's ancestors and descendants (at most 1,000 each) with their statuses, and the edges between them."
                + "\n\n" + "Only tasks the caller may read are listed, and only the edges between the listed tasks.")
            .ProducesProblem(StatusCodes.Status404NotFound);

        var batches = api.MapGroup("/batches")
            .WithTags("Execution")
            .RequireAuthorization()
            .ProducesProblem(StatusCodes.Status401Unauthorized);
        batches.MapGet("/", ListBatches.Handle)
            .WithName("ListBatches")
            .WithSummary("Batches of a project, newest first")
            .WithDescription("`project_id`: the project (its readers; 404 for a project the caller may not read). Only admins may "
                + "leave it out, to list every project's batches. Each batch comes with `total`, `counts` of its live tasks by status "
                + "(every status listed, as in GET /batches/{id}) and `created_at` of its first task. Cursor pages, one order (`-id`: "
                + "batch ids are UUIDv7, so newest first).")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        batches.MapGet("/{id:guid}", GetBatch.Handle)
            .WithName("GetBatch")
            .WithSummary("Get a batch")
            .WithDescription("How many of the batch's tasks are in each status.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        batches.MapPost("/{id:guid}/cancel", CancelBatch.Handle)
            .WithName("CancelBatch")
            .WithRouteLimits(RateLimitPolicies.Bulk)
            .WithSummary("Cancel a batch")
            .WithDescription("Cancel every pending, paused or running task of the batch (`cancel_reason: batch_cancelled`), propagating to descendants.")
            .ProducesCommandProblems();
        batches.MapPost("/{id:guid}/pause", PauseBatch.Handle)
            .WithName("PauseBatch")
            .WithRouteLimits(RateLimitPolicies.Bulk)
            .WithSummary("Pause a batch")
            .WithDescription("Pause every pending task of the batch.")
            .ProducesCommandProblems();
        batches.MapPost("/{id:guid}/resume", ResumeBatch.Handle)
            .WithName("ResumeBatch")
            .WithRouteLimits(RateLimitPolicies.Bulk)
            .WithSummary("Resume a batch")
            .WithDescription("Resume every paused task of the batch.")
            .ProducesCommandProblems();
        batches.MapPost("/{id:guid}/retry", RetryBatch.Handle)
            .WithName("RetryBatch")
            .WithRouteLimits(RateLimitPolicies.Bulk)
            .WithSummary("Re-run a batch from its failures")
            .WithDescription("The batch's failed and timed-out tasks go back to pending (attempt counts kept), and the tasks their "
                + "failure cancelled as `upstream_failed` (in the batch or not) come back with them, waiting on their parents again. "
                + "Succeeded tasks stay done; tasks cancelled for another reason stay cancelled. One transaction; answers the batch's "
                + "counts. 404 when the caller sees no task of the batch, 403 unless it edits all of them, 409 when nothing failed.")
            .ProducesCommandProblems();

        var rules = api.MapGroup("/concurrency-rules")
            .WithTags("Execution")
            .RequireAuthorization()
            .ProducesProblem(StatusCodes.Status401Unauthorized);
        rules.MapGet("/", ListConcurrencyRules.Handle)
            .WithName("ListConcurrencyRules")
            .WithSummary("List concurrency rules")
            .WithDescription("Every concurrency rule (`max_running` per key, shared by all projects) with its key's running count.");
        rules.MapPost("/", CreateConcurrencyRule.Handle)
            .RequireAuthorization(AuthSetup.AdminPolicy)
            .WithName("CreateConcurrencyRule")
            .WithSummary("Create a concurrency rule")
            .WithDescription("Admins: limit how many tasks with a concurrency key run at once, across all nodes. 409 if the key has a rule.")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        rules.MapDelete("/{id:guid}", DeleteConcurrencyRule.Handle)
            .RequireAuthorization(AuthSetup.AdminPolicy)
            .WithName("DeleteConcurrencyRule")
            .WithSummary("Delete a concurrency rule")
            .WithDescription("Admins: remove a concurrency rule; the key is unlimited from then on.")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound);
        return api;
    }

    private static string BulkCommandDescription(string command) =>
        $"`{{ids}}`: 1 to {BulkTaskCommands.MaxIds} distinct task ids (else 422). Each id gets what POST /tasks/{{id}}/{command} would answer, "
        + "in its own transaction and in the order given: `{id, status: 200, task}` or `{id, status: 403|404|409, problem}`; "
        + "one refusal does not stop the others. An id the caller may not read is a 404, like one that does not exist.";

    /// <summary>Lifecycle commands answer 404 (not visible), 403 (not an editor) or 409 (illegal from the current status).</summary>
    private static RouteHandlerBuilder ProducesCommandProblems(this RouteHandlerBuilder route) => route
        .ProducesProblem(StatusCodes.Status403Forbidden)
        .ProducesProblem(StatusCodes.Status404NotFound)
        .ProducesProblem(StatusCodes.Status409Conflict);
}
