using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Schedules;

/// <summary>GET /schedules/{id}: any project member reads it; for anyone else it does not exist.</summary>
public static class GetSchedule
{
    private const string GetSql = ScheduleReads.SelectSql + "\nWHERE s.id = @id AND " + ProjectAccess.OnProjectRow;

    public static async Task<Results<ResourceResult<ScheduleResponse>, ProblemHttpResult>> Handle(
        Guid id, [FromQuery(Name = "fields")] string? fields, Caller caller, HttpContext http, NpgsqlDataSource dataSource,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var selection = ListSchedules.Definition.Fields.Parse(fields, errors);
        if (selection is null)
            return errors.ToQueryProblem();

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<ScheduleRow>(GetSql,
            ProjectAccess.Bind(caller, ProjectRoles.Viewer).On(id, cancellationToken));
        if (row is null)
            return Problems.NotFound("No such schedule.");
        ETags.Set(http, row.Version);
        return selection.Ok(row.ToResponse());
    }
}
