using Microsoft.AspNetCore.Http.Timeouts;
using TaskRunner.Infrastructure.RateLimiting;
using TaskRunner.Infrastructure.Http;

namespace TaskRunner.Features.Tasks;

/// <summary>The read side of tasks: the filtered list, ranked search and title suggestions.</summary>
public static class TaskQueriesEndpoints
{
    public static IEndpointRouteBuilder MapTaskQueries(this IEndpointRouteBuilder api)
    {
        var tasks = api.MapGroup("/tasks")
            .WithTags("Tasks")
            .RequireAuthorization()
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesValidationProblem(StatusCodes.Status400BadRequest);

        tasks.MapGet("/", ListTasks.Handle)
            .WithName("ListTasks")
            .WithSummary("List the tasks the caller may read. Filters: `status` (comma list), `kind`, `project_id`, `batch_id`, "
                + "`assignee_id`, `concurrency_key`, `priority_min`, `created_after|before`, `updated_after`, `scheduled_after|before` "
                + "(exclusive bounds), `include_deleted`, `q` (full text, websearch syntax). `sort` over created_at (default `-created_at`), "
                + "updated_at, priority, title, status, scheduled_at (nulls last); `fields`; keyset `cursor` bound to the sort and filters.");
        tasks.MapGet("/search", SearchTasks.Handle)
            .WithName("SearchTasks")
            .WithRouteLimits(RateLimitPolicies.Search)
            .WithSummary("Search the readable tasks by relevance (title above description). `q` takes web-search syntax: "
                + "`\"exact phrase\"`, `-exclude`, `or`; a word found in no title is also tried as the closest title word when the exact "
                + "query finds little. The filters of GET /tasks apply. Each item adds `rank` and `highlights` {title, description} "
                + "(HTML-escaped, matches in `<mark>`).");
        tasks.MapGet("/search/suggest", SuggestTaskTitles.Handle)
            .WithName("SuggestTaskTitles")
            .WithRouteLimits(RateLimitPolicies.Search)
            .WithSummary("Up to 10 distinct titles of readable, live tasks starting with `q` (case-insensitive), for type-ahead.");
        tasks.MapGet("/export", ExportTasks.Handle)
            .WithName("ExportTasks")
            .WithMetadata(new DisableRequestTimeoutAttribute()) // exports stream for as long as the rows last
            .WithSummary("Export the readable tasks")
            .WithDescription(Exports.Description("task", "the filters of GET /tasks (and `q`)", "oldest first (id order)"));
        return api;
    }
}
