using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Projects;

public sealed record ListProjectMembersQuery : IListQuery
{
    // Init properties: the request delegate generator does not compile [AsParameters] records with a primary constructor.
    [FromQuery(Name = "sort")] public string? Sort { get; init; }
    [FromQuery(Name = "fields")] public string? Fields { get; init; }
    [FromQuery(Name = "cursor")] public string? Cursor { get; init; }
    [FromQuery(Name = "limit")] public string? Limit { get; init; }
}

/// <summary>Anyone who may read a live project lists its members, in the order they were added.</summary>
public static class ListProjectMembers
{
    private const string SelectSql = """
        SELECT m.user_id, m.role, u.email, u.display_name, m.created_at
        FROM project_members m JOIN users u ON u.id = m.user_id
        """;

    private const string OfProject = "m.project_id = @projectId";

    /// <summary>One order, the project's membership history (the primary key's project prefix, then a small sort).</summary>
    public static readonly ListDefinition<ProjectMemberRow, ProjectMemberResponse> Definition = new(
        new SortKeys<ProjectMemberRow>("m.user_id", row => row.UserId)
            .Timestamp("created_at", "m.created_at", row => row.CreatedAt)
            .FixedSort("created_at"),
        new ResponseFields<ProjectMemberResponse>(AppJsonContext.Default.ProjectMemberResponse));

    public static async Task<Results<ListResult<ProjectMemberResponse>, ProblemHttpResult>> Handle(
        Guid id,
        [AsParameters] ListProjectMembersQuery query,
        Caller caller,
        NpgsqlDataSource dataSource,
        ListPaging paging,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var page = paging.Parse(query, Definition, new CursorBinding("project-members").With("project_id", id.ToString()), errors);
        if (page is null)
            return errors.ToQueryProblem();

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var readable = await connection.ExecuteScalarAsync<bool>(ProjectAccess.LiveProjectReadableSql,
            ProjectAccess.Bind(caller, ProjectRoles.Viewer).On(id, cancellationToken));
        if (!readable)
            return Problems.NotFound("No such project.");

        await using var command = connection.CreateCommand();
        var rows = await new FilteredQuery(command).Where(OfProject, "projectId", id)
            .ReadPageAsync(SelectSql, page.Keyset, Read, cancellationToken);
        return page.Result(rows, row => row.ToResponse());
    }

    private static ProjectMemberRow Read(NamedRow row) => new(
        row.Get<Guid>("user_id"), row.Get<string>("role"), row.Get<string>("email"), row.Get<string>("display_name"),
        row.Get<DateTime>("created_at"));
}
