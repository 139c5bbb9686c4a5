using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Schedules;

/// <summary>The query string of GET /schedules, taken as text so every malformed value is reported by name.</summary>
public sealed record ListSchedulesQuery : IListQuery
{
    [FromQuery(Name = "project_id")] public string? ProjectId { get; init; }
    [FromQuery(Name = "sort")] public string? Sort { get; init; }
    [FromQuery(Name = "fields")] public string? Fields { get; init; }
    [FromQuery(Name = "cursor")] public string? Cursor { get; init; }
    [FromQuery(Name = "limit")] public string? Limit { get; init; }
}

/// <summary>GET /schedules: the schedules of the projects the caller may read, newest first by default, in keyset pages.</summary>
public static class ListSchedules
{
    private const string ByProject = "s.project_id = @projectId";

    public static readonly ListDefinition<ScheduleRow, ScheduleResponse> Definition = new(
        new SortKeys<ScheduleRow>("s.id", row => row.Id)
            .Timestamp("created_at", "s.created_at", row => row.CreatedAt)
            .NullableTimestamp("next_fire_at", "s.next_fire_at", row => row.NextFireAt)
            .DefaultSort("-created_at"),
        new ResponseFields<ScheduleResponse>(AppJsonContext.Default.ScheduleResponse));

    public static async Task<Results<ListResult<ScheduleResponse>, ProblemHttpResult>> Handle(
        [AsParameters] ListSchedulesQuery query,
        Caller caller,
        NpgsqlDataSource dataSource,
        ListPaging paging,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var projectId = QueryParameters.Id(query.ProjectId, "project_id", errors);
        var page = paging.Parse(query, Definition, new CursorBinding("schedules").With("project_id", projectId?.ToString()), errors);
        if (page is null)
            return errors.ToQueryProblem();

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        var filtered = new FilteredQuery(command).Where(ProjectAccess.OnProjectRow, ProjectAccess.Bind(caller, ProjectRoles.Viewer));
        if (projectId is { } project)
            filtered.Where(ByProject, "projectId", project);
        var rows = await filtered.ReadPageAsync(ScheduleReads.SelectSql, page.Keyset, ScheduleReads.Read, cancellationToken);
        return page.Result(rows, row => row.ToResponse());
    }
}
