using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using TaskRunner.Features.Projects;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Workflows;

/// <summary>
/// One workflow, if the caller may read its project (otherwise 404). A deleted workflow is 404 unless
/// <c>include_deleted=true</c>. Strong ETag; <c>If-None-Match</c> gives 304.
/// </summary>
public static class GetWorkflow
{
    public static async Task<Results<ResourceResult<WorkflowResponse>, StatusCodeHttpResult, ProblemHttpResult>> Handle(
        Guid id,
        [FromQuery(Name = "include_deleted")] string? includeDeleted,
        [FromQuery(Name = "fields")] string? fields,
        Caller caller,
        HttpContext http,
        NpgsqlDataSource dataSource,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var withDeleted = ProjectRules.Flag(includeDeleted, "include_deleted", errors);
        var selection = ListWorkflows.Definition.Fields.Parse(fields, errors);
        if (selection is null || !errors.IsEmpty)
            return errors.ToQueryProblem();

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var (workflow, problem) = await WorkflowAccess.FindAsync(connection, null, caller, id, ProjectRoles.Viewer, withDeleted,
            forUpdate: false, cancellationToken);
        if (problem is not null)
            return problem;
        ETags.Set(http, workflow!.Version);
        if (ETags.IsNotModified(http.Request, workflow.Version))
            return TypedResults.StatusCode(StatusCodes.Status304NotModified);
        return selection.Ok(workflow.ToResponse());
    }
}
