namespace TaskRunner.Features.Schedules;

public static class SchedulesEndpoints
{
    /// <summary>How every schedule route words the time policies, so the OpenAPI document states them once and the same.</summary>
    private const string Policies =
        " Cron: 5 fields, 6 with seconds first, or @hourly-style macros, read in an IANA `timezone`. Daylight saving: a wall "
        + "time skipped by the spring-forward gap fires once at the first valid instant after it (02:30 → 03:00); a wall time "
        + "that occurs twice fires once, at its first occurrence; expressions stepping through the hour (`*`, `*/n` in "
        + "seconds/minutes/hours) keep their real-time rhythm. `overlap_policy`: `skip` (default) records a skipped fire "
        + "while the previous run is unfinished, `allow` creates it anyway. `catch_up_seconds` (default 300): after downtime, "
        + "fires within this window before now are created, older ones recorded as missed. Each fire time creates its task "
        + "exactly once, however many nodes run.";

    private const string WorkflowTarget =
        "Instead of `task`, a schedule may name `workflow: {workflow_id, version?, params?}`: each fire starts a run of that "
        + "workflow (of the schedule's project, readable by the caller) with these fixed parameters, through the same path as "
        + "`POST /workflows/{id}/runs`, in the fire's transaction; the run is listed under `GET /workflows/{id}/runs`. "
        + "`version` absent means the workflow's default version at each fire. Exactly one of `task` and `workflow` (422 "
        + "otherwise); an unknown workflow or another project's is 422 under `workflow.workflow_id`, parameters failing the "
        + "version's schema are 422 under `workflow.params.*`. A fire whose workflow was deleted, whose parameters no longer "
        + "validate or whose run is refused is recorded as a skipped fire with reason `invalid_workflow`. With "
        + "`overlap_policy: skip`, a fire is skipped while any task of the previous run's batch is unfinished.";

    public static IServiceCollection AddSchedulesFeature(this IServiceCollection services)
    {
        services.AddSingleton<Scheduler>();
        services.AddHostedService<SchedulerService>();
        return services;
    }

    public static IEndpointRouteBuilder MapSchedules(this IEndpointRouteBuilder api)
    {
        var schedules = api.MapGroup("/schedules")
            .WithTags("Schedules")
            .RequireAuthorization()
            .ProducesProblem(StatusCodes.Status401Unauthorized);

        schedules.MapGet("/", ListSchedules.Handle)
            .WithName("ListSchedules")
            .WithSummary("List schedules")
            .WithDescription("The schedules of the projects the caller may read, newest first, optionally of one `project_id`; cursor pages")
            .ProducesProblem(StatusCodes.Status400BadRequest);
        schedules.MapPost("/", CreateSchedule.Handle)
            .WithName("CreateSchedule")
            .WithSummary("Create a schedule")
            .WithDescription("Project editors: create a cron schedule whose `task` (the create-task body minus project_id) is created at each fire time." + Policies
                + "\n\n" + WorkflowTarget)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        schedules.MapGet("/{id:guid}", GetSchedule.Handle)
            .WithName("GetSchedule")
            .WithSummary("Get a schedule")
            .WithDescription("A schedule, with its next and last fire times")
            .ProducesProblem(StatusCodes.Status404NotFound);
        schedules.MapPatch("/{id:guid}", UpdateSchedule.Handle)
            .WithName("UpdateSchedule")
            .WithSummary("Update a schedule")
            .WithDescription("Project editors: change cron, timezone, task, enabled, overlap_policy or catch_up_seconds while it runs; "
                + "a new cron or timezone, or enabling, recomputes next_fire_at from now. Optional If-Match. Giving `task` or `workflow` "
                + "replaces the target (and switches the schedule's kind)." + Policies
                + "\n\n" + WorkflowTarget)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status412PreconditionFailed)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        schedules.MapDelete("/{id:guid}", DeleteSchedule.Handle)
            .WithName("DeleteSchedule")
            .WithSummary("Delete a schedule")
            .WithDescription("Project editors: delete a schedule; it stops firing at once, the tasks it created stay")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound);
        return api;
    }
}
