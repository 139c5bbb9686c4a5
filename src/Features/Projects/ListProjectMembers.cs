using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Projects;

public sealed record ListProjectMembersQuery
{
    // Init properties: the request delegate generator does not compile [AsParameters] records with a primary constructor.
    [FromQuery(Name = "cursor")] public string? Cursor { get; init; }
    [FromQuery(Name = "limit")] public string? Limit { get; init; }
}

/// <summary>Anyone who may read a live project lists its members, in the order they were added.</summary>
public static class ListProjectMembers
{
    private const string ReadableSql = """
        SELECT EXISTS (SELECT FROM projects p WHERE p.id = @id AND p.deleted_at IS NULL AND
        """ + ProjectAccess.OnProjectRow + ")";

    private const string FirstPageSql = """
        SELECT m.user_id, m.role, u.email, u.display_name, m.created_at
        FROM project_members m JOIN users u ON u.id = m.user_id
        WHERE m.project_id = @id
        ORDER BY m.created_at, m.user_id LIMIT @limit
        """;

    private const string NextPageSql = """
        SELECT m.user_id, m.role, u.email, u.display_name, m.created_at
        FROM project_members m JOIN users u ON u.id = m.user_id
        WHERE m.project_id = @id AND (m.created_at, m.user_id) > (@afterCreatedAt, @afterUserId)
        ORDER BY m.created_at, m.user_id LIMIT @limit
        """;

    private static readonly CursorValueKind[] CursorShape = [CursorValueKind.Timestamp, CursorValueKind.Id];

    public static async Task<Results<Ok<ListResponse<ProjectMemberResponse>>, ProblemHttpResult>> Handle(
        Guid id,
        [AsParameters] ListProjectMembersQuery query,
        Caller caller,
        HttpContext http,
        NpgsqlDataSource dataSource,
        CursorCodec cursors,
        IOptions<ListOptions> lists,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var limit = Lists.Limit(query.Limit, lists.Value.MaxLimit, errors);
        if (!errors.IsEmpty)
            return errors.ToQueryProblem();
        var binding = new CursorBinding("project-members").With("sort", "created_at,user_id").With("project_id", id.ToString());
        (DateTime CreatedAt, Guid UserId)? after = null;
        if (query.Cursor is not null)
        {
            if (!cursors.TryDecode(query.Cursor, binding, CursorShape, out var values, out var error))
            {
                errors.Add("cursor", error);
                return errors.ToQueryProblem();
            }
            after = (values[0].AsTimestamp(), values[1].AsId());
        }

        var (callerId, callerIsAdmin, callerCanWrite, requiredRank) = ProjectAccess.Parameters(caller, ProjectRoles.Viewer);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var readable = await connection.ExecuteScalarAsync<bool>(ReadableSql,
            new { id, callerId, callerIsAdmin, callerCanWrite, requiredRank, cancellationToken });
        if (!readable)
            return Problems.NotFound("No such project.");
        var rows = after is { } position
            ? await connection.QueryAsync<ProjectMemberRow>(NextPageSql, new
            {
                id,
                afterCreatedAt = position.CreatedAt,
                afterUserId = position.UserId,
                limit = limit + 1,
                cancellationToken,
            })
            : await connection.QueryAsync<ProjectMemberRow>(FirstPageSql, new { id, limit = limit + 1, cancellationToken });
        return TypedResults.Ok(Lists.Page(http, rows.ToList(), limit, row => row.ToResponse(),
            row => cursors.Encode(binding, CursorValue.Of(row.CreatedAt), CursorValue.Of(row.UserId))));
    }
}
