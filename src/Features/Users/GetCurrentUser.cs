using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Users;

/// <summary>GET /users/me: the authenticated caller's own account.</summary>
public static class GetCurrentUser
{
    public static async Task<Results<ResourceResult<UserResponse>, ProblemHttpResult>> Handle(
        [FromQuery(Name = "fields")] string? fields, Caller caller, NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var selection = ListUsers.Definition.Fields.Parse(fields, errors);
        if (selection is null)
            return errors.ToQueryProblem();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var user = await connection.QuerySingleOrDefaultAsync<UserRow>(Users.GetSql, new { id = caller.UserId, cancellationToken });
        return user is null ? Problems.NotFound("The account no longer exists.") : selection.Ok(user.ToResponse());
    }
}
