using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Workflows;

/// <summary>GET /workflows/{id}/versions/{number}: one version with its JSON definition and its source as it was sent.</summary>
public static class GetWorkflowVersion
{
    internal const string VersionSql = WorkflowReads.SelectVersionSql + "\nWHERE v.workflow_id = @id AND v.number = @number";

    private static readonly ResponseFields<WorkflowVersionResponse> Fields = new(AppJsonContext.Default.WorkflowVersionResponse);

    public static async Task<Results<ResourceResult<WorkflowVersionResponse>, ProblemHttpResult>> Handle(
        Guid id, int number, [FromQuery(Name = "fields")] string? fields, Caller caller, NpgsqlDataSource dataSource,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var selection = Fields.Parse(fields, errors);
        if (selection is null)
            return errors.ToQueryProblem();

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var (_, problem) = await WorkflowAccess.FindAsync(connection, null, caller, id, ProjectRoles.Viewer, includeDeleted: false,
            forUpdate: false, cancellationToken);
        if (problem is not null)
            return problem;
        var version = await connection.QuerySingleOrDefaultAsync<WorkflowVersionRow>(VersionSql, new { id, number, cancellationToken });
        return version is null ? Problems.NotFound($"The workflow has no version {number}.") : selection.Ok(version.ToResponse());
    }
}
