using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Tasks;

/// <summary>
/// One task with its strong ETag. A deleted task is 404 unless <c>include_deleted=true</c> and the caller may edit its
/// project (the people who could restore it); project viewers never see deleted tasks.
/// </summary>
public static class GetTask
{
    private const string GetSql = TaskReads.SelectSql + """

        WHERE t.id = @id AND
        """ + ProjectAccess.OnTaskRow;

    public static async Task<Results<ResourceResult<TaskResponse>, StatusCodeHttpResult, ProblemHttpResult>> Handle(
        Guid id,
        [FromQuery(Name = "include_deleted")] bool? includeDeleted,
        [FromQuery(Name = "fields")] string? fields,
        Caller caller,
        HttpContext http,
        NpgsqlDataSource dataSource,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var selection = ListTasks.Definition.Fields.Parse(fields, errors);
        if (selection is null)
            return errors.ToQueryProblem();

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var access = ProjectAccess.Bind(caller, ProjectRoles.Viewer);
        var row = await connection.QuerySingleOrDefaultAsync<TaskRow>(GetSql,
            access.On(id, cancellationToken));
        if (row is null)
            return TaskProblems.NotFound();
        if (row.DeletedAt is not null)
        {
            if (includeDeleted != true)
                return TaskProblems.NotFound();
            var role = await TaskLookup.MembershipAsync(connection, null, caller, row.ProjectId, cancellationToken);
            if (!ProjectAccess.Allows(caller, role, ProjectRoles.Editor))
                return TaskProblems.NotFound();
        }

        ETags.Set(http, row.Version);
        if (ETags.IsNotModified(http.Request, row.Version))
            return TypedResults.StatusCode(StatusCodes.Status304NotModified);
        return selection.Ok(row.ToResponse());
    }
}
