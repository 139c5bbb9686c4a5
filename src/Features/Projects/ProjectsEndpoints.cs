using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;

namespace TaskRunner.Features.Projects;

public static class ProjectsEndpoints
{
    public static IServiceCollection AddProjectsFeature(this IServiceCollection services) =>
        services.AddRetention<ProjectsOptions>(ProjectRetention.Job);

    public static IEndpointRouteBuilder MapProjects(this IEndpointRouteBuilder api)
    {
        var projects = api.MapGroup("/projects")
            .WithTags("Projects")
            .RequireAuthorization()
            .ProducesProblem(StatusCodes.Status401Unauthorized);

        projects.MapPost("/", CreateProject.Handle)
            .Idempotent()
            .WithName("CreateProject")
            .WithSummary("Create a project")
            .WithDescription("Create a project (members and admins; viewers get 403); the caller becomes its owner. Answers its ETag and, "
                + "this once, `webhook_secret`: the `whsec_…` secret that signs its tasks' inline-action deliveries (stored sealed; "
                + "rotate with POST /projects/{id}/webhook-secret). Honours Idempotency-Key; a replay answers the project without "
                + "`webhook_secret`, which is never kept outside the sealed store")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        projects.MapGet("/", ListProjects.Handle)
            .WithName("ListProjects")
            .WithSummary("List projects")
            .WithDescription("The projects the caller may read; `sort` = -created_at (default), created_at, name or -name (id breaks ties); "
                + "`q` matches a substring of the name, case-insensitively; `include_deleted=true` adds deleted ones; cursor pages with a Link header")
            .ProducesProblem(StatusCodes.Status400BadRequest);
        projects.MapGet("/{id:guid}", GetProject.Handle)
            .WithName("GetProject")
            .WithSummary("Get a project")
            .WithDescription("One project with its strong ETag (If-None-Match gives 304); 404 if the caller may not read it, or if it is "
                + "deleted unless `include_deleted=true` (which shows deleted projects to anyone who may read them)")
            .Produces(StatusCodes.Status304NotModified)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        projects.MapPatch("/{id:guid}", UpdateProject.Handle)
            .WithName("UpdateProject")
            .WithSummary("Update a project")
            .WithDescription("Change name and/or description (editors, owners, admins); a property left out is kept, `description: null` "
                + "clears it. If-Match gives 412 when the project changed meanwhile; answers the new ETag")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status412PreconditionFailed)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        projects.MapDelete("/{id:guid}", DeleteProject.Handle)
            .WithName("DeleteProject")
            .WithSummary("Delete a project")
            .WithDescription("Soft-delete a project and its live tasks (owners, admins); restorable until the retention purge. "
                + "`permanent=true` (admins only, 403 otherwise) deletes it and everything in it for good, deleted or not. Honours If-Match")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status412PreconditionFailed);
        projects.MapPost("/{id:guid}/restore", RestoreProject.Handle)
            .WithName("RestoreProject")
            .WithSummary("Restore a project")
            .WithDescription("Undo a soft delete (owners, admins): the project and exactly the tasks deleted with it come back. "
                + "409 if the project is not deleted; 404 if the caller may not read it. Honours If-Match")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status412PreconditionFailed);

        projects.MapGet("/{id:guid}/members", ListProjectMembers.Handle)
            .WithName("ListProjectMembers")
            .WithSummary("List a project's members")
            .WithDescription("The members of a live project (anyone who may read it), in the order they were added; cursor pages with a Link header")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        projects.MapPost("/{id:guid}/members", AddProjectMember.Handle)
            .Idempotent()
            .WithName("AddProjectMember")
            .WithSummary("Add a project member")
            .WithDescription("Add a user with a role (owner, editor, viewer) to a live project (owners, admins). An unknown user is 422 "
                + "on user_id; an existing member is 409 (roles are not changed here: remove, then add). Honours Idempotency-Key")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        projects.MapDelete("/{id:guid}/members/{userId:guid}", RemoveProjectMember.Handle)
            .WithName("RemoveProjectMember")
            .WithSummary("Remove a project member")
            .WithDescription("Remove a member from a live project (owners, admins); removing the last owner is 409")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        return api;
    }
}
