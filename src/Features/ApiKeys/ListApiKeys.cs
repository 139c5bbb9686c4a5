using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.ApiKeys;

/// <summary>GET /api-keys: the caller's own keys, never their secrets.</summary>
public static class ListApiKeys
{
    public static async Task<Results<ListResult<ApiKeyResponse>, ProblemHttpResult>> Handle(
        [AsParameters] PageQuery query, Caller caller, NpgsqlDataSource dataSource, ListPaging paging, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var page = paging.Parse(query, ApiKeys.Definition, new CursorBinding("api-keys"), errors);
        if (page is null)
            return errors.ToQueryProblem();

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        var keys = await new FilteredQuery(command).Where(ApiKeys.OfCaller, "userId", caller.UserId)
            .ReadPageAsync(ApiKeys.SelectSql, page.Keyset, Read, cancellationToken);
        return page.Result(keys, key => key);
    }

    private static ApiKeyResponse Read(NamedRow row) => new(
        row.Get<Guid>("id"), row.Get<string>("name"), row.Get<string>("role"), row.Get<string>("prefix"), row.Get<DateTime>("created_at"),
        row.Get<DateTime?>("expires_at"), row.Get<DateTime?>("last_used_at"), row.Get<DateTime?>("revoked_at"), row.Get<bool>("require_signature"));
}
