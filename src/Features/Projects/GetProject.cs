using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Projects;

/// <summary>
/// One project, if the caller may read it (otherwise 404, as if it did not exist). A deleted project is 404 unless
/// <c>include_deleted=true</c>, which shows it to anyone who may read it. Strong ETag; <c>If-None-Match</c> gives 304.
/// </summary>
public static class GetProject
{
    private const string GetSql = """
        SELECT p.id, p.name, p.description, p.created_by, p.created_at, p.updated_at, p.deleted_at, p.version
        FROM projects p
        WHERE p.id = @id AND (p.deleted_at IS NULL OR @includeDeleted) AND
        """ + ProjectAccess.OnProjectRow;

    public static async Task<Results<ResourceResult<ProjectResponse>, StatusCodeHttpResult, ProblemHttpResult>> Handle(
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
        var selection = ListProjects.Definition.Fields.Parse(fields, errors);
        if (selection is null || !errors.IsEmpty)
            return errors.ToQueryProblem();

        var access = ProjectAccess.Bind(caller, ProjectRoles.Viewer);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var project = await connection.QuerySingleOrDefaultAsync<ProjectRow>(GetSql,
            new { id, includeDeleted = withDeleted, access.CallerId, access.CallerIsAdmin, access.CallerCanWrite, access.RequiredRank, cancellationToken });
        if (project is null)
            return Problems.NotFound("No such project.");
        ETags.Set(http, project.Version);
        if (ETags.IsNotModified(http.Request, project.Version))
            return TypedResults.StatusCode(StatusCodes.Status304NotModified);
        return selection.Ok(project.ToResponse());
    }
}
