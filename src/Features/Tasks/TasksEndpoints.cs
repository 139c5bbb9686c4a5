using Microsoft.AspNetCore.Http.Timeouts;
using Microsoft.Extensions.Options;
using TaskRunner.Features.Tasks.CreateTasks;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.RateLimiting;

namespace TaskRunner.Features.Tasks;

/// <summary>
/// The Tasks feature's routes in one group: creating tasks one at a time or in bulk, the filtered list, search and
/// suggestions, exports, reading, editing, deleting and restoring them, and their comments. The engine's routes under
/// /tasks (claim, complete, cancel, ...) are the Execution feature's.
/// </summary>
public static class TasksEndpoints
{
    public static IServiceCollection AddTasksFeature(this IServiceCollection services) =>
        services.AddRetention<TasksOptions>(TaskRetention.Job);

    public static IEndpointRouteBuilder MapTasks(this IEndpointRouteBuilder api)
    {
        var tasks = api.MapGroup("/tasks")
            .WithTags("Tasks")
            .RequireAuthorization()
            .ProducesProblem(StatusCodes.Status401Unauthorized);

        tasks.MapPost("/", CreateTasks.CreateTasks.CreateOne)
            .Idempotent()
            .WithName("CreateTask")
            .WithSummary("Create a task")
            .WithDescription("Create a task. `depends_on` lists parent ids (same project) or `{task_id, require: success|completion}`. "
                + "With a `dedupe_key` held by a live, unfinished task of the project, that task is returned instead (200, `Deduplicated: true`). "
                + "`actions` are webhooks `{trigger, url, method?, headers?}` or `{template_id}`; each may carry `then`, follow-up webhooks "
                + "`{when: {status?, outcome?, json?: [{path, equals|not_equals|in|exists}]}, url|template_id}` sent once when its delivery "
                + "ends with an answer matching every condition given (docs/webhooks.md). Header values are write-only: every answer "
                + "shows `[redacted]` in their place.")
            .Produces<TaskResponse>(StatusCodes.Status200OK)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        tasks.MapPost("/bulk", CreateTasks.CreateTasks.CreateMany)
            .Idempotent()
            // A 1,000-task DAG with metadata outgrows the general body limit.
            .WithMetadata(new RequestBodyLimit(() => api.ServiceProvider.GetRequiredService<IOptions<TasksOptions>>().Value.MaxBulkBodyBytes))
            .WithName("CreateTasksInBulk")
            .WithRouteLimits(RateLimitPolicies.Bulk)
            .WithSummary("Create many tasks")
            .WithDescription("Create up to 1,000 tasks atomically, sharing one `batch_id` (also in `X-Batch-ID`). Tasks depend on each other "
                + "through client `ref`s and on existing ids; any invalid item rejects the whole request, errors keyed like `tasks[3].depends_on[0]`.")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);

        tasks.MapGet("/", ListTasks.Handle)
            .WithName("ListTasks")
            .ProducesValidationProblem(StatusCodes.Status400BadRequest)
            .WithSummary("List tasks")
            .WithDescription("List the tasks the caller may read. Filters: `status` (comma list), `kind`, `project_id`, `batch_id`, "
                + "`assignee_id`, `concurrency_key`, `priority_min`, `created_after|before`, `updated_after`, `scheduled_after|before` "
                + "(exclusive bounds), `include_deleted`, `q` (full text, websearch syntax). `sort` over created_at (default `-created_at`), "
                + "updated_at, priority, title, status, scheduled_at (nulls last); `fields`; keyset `cursor` bound to the sort and filters.");
        tasks.MapGet("/search", SearchTasks.Handle)
            .WithName("SearchTasks")
            .ProducesValidationProblem(StatusCodes.Status400BadRequest)
            .WithRouteLimits(RateLimitPolicies.Search)
            .WithSummary("Search tasks")
            .WithDescription("Search the readable tasks by relevance (title above description). `q` takes web-search syntax: "
                + "`\"exact phrase\"`, `-exclude`, `or`; a word found in no title is also tried as the closest title word when the exact "
                + "query finds little. The filters of GET /tasks apply. Each item adds `rank` and `highlights` {title, description} "
                + "(HTML-escaped, matches in `<mark>`).");
        tasks.MapGet("/search/suggest", SuggestTaskTitles.Handle)
            .WithName("SuggestTaskTitles")
            .ProducesValidationProblem(StatusCodes.Status400BadRequest)
            .WithRouteLimits(RateLimitPolicies.Search)
            .WithSummary("Suggest task titles")
            .WithDescription("Up to 10 distinct titles of readable, live tasks starting with `q` (case-insensitive), for type-ahead.");
        tasks.MapGet("/export", ExportTasks.Handle)
            .WithName("ExportTasks")
            .ProducesValidationProblem(StatusCodes.Status400BadRequest)
            .WithMetadata(new DisableRequestTimeoutAttribute()) // exports stream for as long as the rows last
            .WithSummary("Export the readable tasks")
            .WithDescription(Exports.Description("task", "the filters of GET /tasks (and `q`)", "oldest first (id order)"));

        tasks.MapPatch("/bulk", BulkUpdateTasks.Handle)
            .WithName("BulkUpdateTasks")
            .WithRouteLimits(RateLimitPolicies.Bulk)
            .WithSummary("Update many tasks")
            .WithDescription("Change fields of up to 1,000 tasks atomically (moving with `set.project_id` needs editor on both projects); per-id results")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        tasks.MapDelete("/bulk", BulkDeleteTasks.Handle)
            .WithName("BulkDeleteTasks")
            .WithRouteLimits(RateLimitPolicies.Bulk)
            .WithSummary("Delete many tasks")
            .WithDescription("Soft-delete up to 1,000 tasks atomically; tasks with live dependents outside the set are conflicts unless `cascade`; per-id results")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        tasks.MapGet("/{id:guid}", GetTask.Handle)
            .WithName("GetTask")
            .WithSummary("Get a task")
            .WithDescription("One task with its ETag (If-None-Match gives 304); `include_deleted=true` shows a deleted one to project editors")
            .Produces(StatusCodes.Status304NotModified)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        tasks.MapPatch("/{id:guid}", UpdateTask.Handle)
            .WithName("UpdateTask")
            .WithSummary("Update a task")
            .WithDescription("Change a task's editable fields (absent: unchanged, null: cleared); project editors; honours If-Match. "
                + "Action header values are write-only: answers show `[redacted]`, and `[redacted]` sent back keeps the value stored "
                + "under that header name for the same URL (422 for another URL)")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status412PreconditionFailed)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        tasks.MapDelete("/{id:guid}", DeleteTask.Handle)
            .WithName("DeleteTask")
            .WithSummary("Delete a task")
            .WithDescription("Soft-delete a task (project editors); 409 listing live dependents unless `cascade=true`; `permanent=true` for admins; honours If-Match")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status412PreconditionFailed);
        tasks.MapPost("/{id:guid}/restore", RestoreTask.Handle)
            .WithName("RestoreTask")
            .WithSummary("Restore a task")
            .WithDescription("Undo a soft delete (project editors); 409 while a parent is deleted or in another project, or the task's project is deleted; `cascade=true` also restores what was deleted with it"
                + "\n\n" + "Also 409 (listing them in `dedupe_holders`) when unfinished tasks now hold the dedupe_key of a task the restore "
                + "would bring back, checked for every task the cascade reaches before anything comes back. A task that takes such a key "
                + "while a large cascade is still walking keeps it: the descendant it clashes with stays deleted, the rest comes back.")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        tasks.MapGet("/{id:guid}/comments", ListTaskComments.Handle)
            .WithName("ListTaskComments")
            .WithSummary("List a task's comments")
            .WithDescription("A task's comments, oldest first; cursor pages with a Link header")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        tasks.MapPost("/{id:guid}/comments", CreateTaskComment.Handle)
            .WithName("CreateTaskComment")
            .WithSummary("Comment on a task")
            .WithDescription("Comment on a task (project editors); body of 1 to 10,000 characters")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);

        var comments = api.MapGroup("/comments")
            .WithTags("Tasks")
            .RequireAuthorization()
            .ProducesProblem(StatusCodes.Status401Unauthorized);
        comments.MapDelete("/{id:guid}", DeleteComment.Handle)
            .WithName("DeleteComment")
            .WithSummary("Delete a comment")
            .WithDescription("Delete a comment: its author while an editor of the project, a project owner, or an admin")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound);
        return api;
    }
}
