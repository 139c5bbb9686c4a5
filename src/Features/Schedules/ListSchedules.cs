using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Schedules;

/// <summary>The query string of GET /schedules, taken as text so every malformed value is reported by name.</summary>
public sealed record ListSchedulesQuery
{
    [FromQuery(Name = "project_id")] public string? ProjectId { get; init; }
    [FromQuery(Name = "cursor")] public string? Cursor { get; init; }
    [FromQuery(Name = "limit")] public string? Limit { get; init; }
}

/// <summary>GET /schedules: the schedules of the projects the caller may read, newest first, in keyset pages.</summary>
public static class ListSchedules
{
    private const string ByProject = "s.project_id = @projectId";
    private const string AfterPosition = "(s.created_at, s.id) < (@afterCreatedAt, @afterId)";
    private const string OrderSql = "ORDER BY s.created_at DESC, s.id DESC LIMIT @limit";
    private const string Sort = "-created_at,-id";
    private static readonly CursorValueKind[] CursorShape = [CursorValueKind.Timestamp, CursorValueKind.Id];

    public static async Task<Results<Ok<ListResponse<ScheduleResponse>>, ProblemHttpResult>> Handle(
        [AsParameters] ListSchedulesQuery query,
        Caller caller,
        HttpContext http,
        NpgsqlDataSource dataSource,
        CursorCodec cursors,
        IOptions<ListOptions> lists,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var projectId = QueryParameters.Id(query.ProjectId, "project_id", errors);
        var limit = Lists.Limit(query.Limit, lists.Value.MaxLimit, errors);
        if (!errors.IsEmpty)
            return errors.ToQueryProblem();

        var binding = new CursorBinding("schedules").With("sort", Sort).With("project_id", projectId?.ToString());
        (DateTime CreatedAt, Guid Id)? after = null;
        if (query.Cursor is not null)
        {
            if (!cursors.TryDecode(query.Cursor, binding, CursorShape, out var values, out var error))
            {
                errors.Add("cursor", error);
                return errors.ToQueryProblem();
            }
            after = (values[0].AsTimestamp(), values[1].AsId());
        }

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        var access = ProjectAccess.Parameters(caller, ProjectRoles.Viewer);
        var filtered = new FilteredQuery(command)
            .Where(ProjectAccess.OnProjectRow, "callerId", access.CallerId)
            .Parameter("callerIsAdmin", access.CallerIsAdmin)
            .Parameter("callerCanWrite", access.CallerCanWrite)
            .Parameter("requiredRank", access.RequiredRank);
        if (projectId is { } project)
            filtered.Where(ByProject, "projectId", project);
        if (after is { } position)
            filtered.Where(AfterPosition, "afterCreatedAt", position.CreatedAt).Parameter("afterId", position.Id);
        filtered.Parameter("limit", limit + 1).Complete(ScheduleReads.SelectSql, OrderSql);

        var rows = new List<ScheduleRow>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
                rows.Add(ScheduleReads.Read(reader));
        }
        return TypedResults.Ok(Lists.Page(http, rows, limit, row => row.ToResponse(),
            row => cursors.Encode(binding, CursorValue.Of(row.CreatedAt), CursorValue.Of(row.Id))));
    }
}
