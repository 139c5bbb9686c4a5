using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Users;

public sealed record ListUsersQuery : IListQuery
{
    // Init properties: the request delegate generator does not compile [AsParameters] records with a primary constructor.
    [FromQuery(Name = "role")] public string? Role { get; init; }
    [FromQuery(Name = "sort")] public string? Sort { get; init; }
    [FromQuery(Name = "fields")] public string? Fields { get; init; }
    [FromQuery(Name = "cursor")] public string? Cursor { get; init; }
    [FromQuery(Name = "limit")] public string? Limit { get; init; }
}

/// <summary>Admins: every account, oldest first unless sorted otherwise (ids are time-ordered), optionally one role; keyset pages.</summary>
public static class ListUsers
{
    private const string SelectSql = """
        SELECT id, email, display_name, role, disabled, created_at, updated_at, totp_required, totp_enabled_at IS NOT NULL AS totp_enabled FROM users
        """;

    private const string NotDeleted = "deleted_at IS NULL";
    private const string ByRole = "role = @role";

    public static readonly ListDefinition<UserRow, UserResponse> Definition = new(
        new SortKeys<UserRow>("id", row => row.Id)
            .Timestamp("created_at", "created_at", row => row.CreatedAt)
            .Timestamp("updated_at", "updated_at", row => row.UpdatedAt)
            .Text("email", "email", row => row.Email)
            .Text("display_name", "display_name", row => row.DisplayName),
        new ResponseFields<UserResponse>(AppJsonContext.Default.UserResponse));

    public static async Task<Results<ListResult<UserResponse>, ProblemHttpResult>> Handle(
        [AsParameters] ListUsersQuery query,
        NpgsqlDataSource dataSource,
        ListPaging paging,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        if (query.Role is not null && !Roles.All.Contains(query.Role))
            errors.Add("role", "must be one of admin, member, viewer");
        var page = paging.Parse(query, Definition, new CursorBinding("users").With("role", query.Role), errors);
        if (page is null)
            return errors.ToQueryProblem();

        // Plain Npgsql: Dapper.AOT does not compile non-constant SQL with the cancellation token in the args object.
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        var sql = new FilteredQuery(command).Where(NotDeleted);
        if (query.Role is { } role)
            sql.Where(ByRole, "role", role);
        var rows = await sql.ReadPageAsync(SelectSql, page.Keyset, Read, cancellationToken);
        return page.Result(rows, row => row.ToResponse());
    }

    private static UserRow Read(NamedRow row) => new(
        row.Get<Guid>("id"), row.Get<string>("email"), row.Get<string>("display_name"), row.Get<string>("role"), row.Get<bool>("disabled"),
        row.Get<DateTime>("created_at"), row.Get<DateTime>("updated_at"), row.Get<bool>("totp_required"), row.Get<bool>("totp_enabled"));
}
