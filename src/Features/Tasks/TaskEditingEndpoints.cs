using TaskRunner.Infrastructure.RateLimiting;
using TaskRunner.Infrastructure.Http;
namespace TaskRunner.Features.Tasks;

/// <summary>Reading, editing, deleting and restoring tasks one at a time or in bulk, and their comments.</summary>
public static class TaskEditingEndpoints
{
    public static IEndpointRouteBuilder MapTaskEditing(this IEndpointRouteBuilder api)
    {
        var tasks = api.MapGroup("/tasks")
            .WithTags("Tasks")
            .RequireAuthorization()
            .ProducesProblem(StatusCodes.Status401Unauthorized);

        tasks.MapPatch("/bulk", BulkEditTasks.Update)
            .WithName("BulkUpdateTasks")
            .WithRouteLimits(RateLimitPolicies.Bulk)
            .WithSummary("Change fields of up to 1,000 tasks atomically (moving with `set.project_id` needs editor on both projects); per-id results")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        tasks.MapDelete("/bulk", BulkEditTasks.Delete)
            .WithName("BulkDeleteTasks")
            .WithRouteLimits(RateLimitPolicies.Bulk)
            .WithSummary("Soft-delete up to 1,000 tasks atomically; tasks with live dependents outside the set are conflicts unless `cascade`; per-id results")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        tasks.MapGet("/{id:guid}", GetTask.Handle)
            .WithName("GetTask")
            .WithSummary("One task with its ETag (If-None-Match gives 304); `include_deleted=true` shows a deleted one to project editors")
            .Produces(StatusCodes.Status304NotModified)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        tasks.MapPatch("/{id:guid}", UpdateTask.Handle)
            .WithName("UpdateTask")
            .WithSummary("Change a task's editable fields (absent: unchanged, null: cleared); project editors; honours If-Match. "
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
            .WithSummary("Soft-delete a task (project editors); 409 listing live dependents unless `cascade=true`; `permanent=true` for admins; honours If-Match")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status412PreconditionFailed);
        tasks.MapPost("/{id:guid}/restore", RestoreTask.Handle)
            .WithName("RestoreTask")
            .WithSummary("Undo a soft delete (project editors); 409 while a parent is deleted or in another project, or the task's project is deleted; `cascade=true` also restores what was deleted with it")
            .WithDescription("Also 409 (listing them in `dedupe_holders`) when unfinished tasks now hold the dedupe_key of a task the restore "
                + "would bring back, checked for every task the cascade reaches before anything comes back. A task that takes such a key "
                + "while a large cascade is still walking keeps it: the descendant it clashes with stays deleted, the rest comes back.")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        tasks.MapGet("/{id:guid}/comments", TaskComments.List)
            .WithName("ListTaskComments")
            .WithSummary("A task's comments, oldest first; cursor pages with a Link header")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        tasks.MapPost("/{id:guid}/comments", TaskComments.Create)
            .WithName("CreateTaskComment")
            .WithSummary("Comment on a task (project editors); body of 1 to 10,000 characters")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);

        var comments = api.MapGroup("/comments")
            .WithTags("Tasks")
            .RequireAuthorization()
            .ProducesProblem(StatusCodes.Status401Unauthorized);
        comments.MapDelete("/{id:guid}", TaskComments.Delete)
            .WithName("DeleteComment")
            .WithSummary("Delete a comment: its author while an editor of the project, a project owner, or an admin")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound);
        return api;
    }
}
