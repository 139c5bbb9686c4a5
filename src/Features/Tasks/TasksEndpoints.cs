using TaskRunner.Infrastructure.RateLimiting;
using Microsoft.Extensions.Options;
using TaskRunner.Features.Tasks.CreateTasks;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;

namespace TaskRunner.Features.Tasks;

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
            .WithSummary("Create a task. `depends_on` lists parent ids (same project) or `{task_id, require: success|completion}`. "
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
            .WithSummary("Create up to 1,000 tasks atomically, sharing one `batch_id` (also in `X-Batch-ID`). Tasks depend on each other "
                + "through client `ref`s and on existing ids; any invalid item rejects the whole request, errors keyed like `tasks[3].depends_on[0]`.")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        return api;
    }
}
