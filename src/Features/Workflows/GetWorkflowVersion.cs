using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Workflows;

/// <summary>GET /workflows/{id}/versions/{number}: one version with its JSON definition and its source as it was sent.</summary>
public static class GetWorkflowVersion
{
    internal const string VersionSql = WorkflowReads.SelectVersionSql + "\nWHERE v.workflow_id = @id AND v.number = @number";

    public static async Task<Results<Ok<WorkflowVersionResponse>, ProblemHttpResult>> Handle(
        Guid id, int number, Caller caller, NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var (_, problem) = await WorkflowAccess.FindAsync(connection, null, caller, id, ProjectRoles.Viewer, includeDeleted: false,
            forUpdate: false, cancellationToken);
        if (problem is not null)
            return problem;
        var version = await connection.QuerySingleOrDefaultAsync<WorkflowVersionRow>(VersionSql, new { id, number, cancellationToken });
        return version is null ? Problems.NotFound($"The workflow has no version {number}.") : TypedResults.Ok(version.ToResponse());
    }
}
