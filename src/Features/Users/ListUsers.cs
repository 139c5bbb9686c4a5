using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Users;

public sealed record ListUsersQuery
{
    // Init properties: the request delegate generator does not compile [AsParameters] records with a primary constructor.
    [FromQuery(Name = "role")] public string? Role { get; init; }
    [FromQuery(Name = "cursor")] public string? Cursor { get; init; }
    [FromQuery(Name = "limit")] public string? Limit { get; init; }
}

/// <summary>Admins: every account, oldest first (ids are time-ordered), optionally one role; keyset pages over the primary key.</summary>
public static class ListUsers
{
    private const string AllSql = """
        SELECT id, email, display_name, role, disabled, created_at, updated_at FROM users
        WHERE deleted_at IS NULL AND id > @after
        ORDER BY id LIMIT @limit
        """;

    private const string ByRoleSql = """
        SELECT id, email, display_name, role, disabled, created_at, updated_at FROM users
        WHERE deleted_at IS NULL AND role = @role AND id > @after
        ORDER BY id LIMIT @limit
        """;

    private static readonly CursorValueKind[] CursorShape = [CursorValueKind.Id];

    public static async Task<Results<Ok<ListResponse<UserResponse>>, ProblemHttpResult>> Handle(
        [AsParameters] ListUsersQuery query,
        HttpContext http,
        NpgsqlDataSource dataSource,
        CursorCodec cursors,
        IOptions<ListOptions> lists,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        if (query.Role is not null && !Roles.All.Contains(query.Role))
            errors.Add("role", "must be one of admin, member, viewer");
        var limit = Lists.Limit(query.Limit, lists.Value.MaxLimit, errors);
        if (!errors.IsEmpty)
            return errors.ToQueryProblem();

        var binding = new CursorBinding("users").With("sort", "id").With("role", query.Role);
        var after = Guid.Empty;
        if (query.Cursor is not null)
        {
            if (!cursors.TryDecode(query.Cursor, binding, CursorShape, out var values, out var error))
            {
                errors.Add("cursor", error);
                return errors.ToQueryProblem();
            }
            after = values[0].AsId();
        }

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = query.Role is null
            ? await connection.QueryAsync<UserRow>(AllSql, new { after, limit = limit + 1, cancellationToken })
            : await connection.QueryAsync<UserRow>(ByRoleSql, new { role = query.Role, after, limit = limit + 1, cancellationToken });
        return TypedResults.Ok(Lists.Page(http, rows.ToList(), limit, row => row.ToResponse(),
            row => cursors.Encode(binding, CursorValue.Of(row.Id))));
    }
}
