using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Auth;

/// <summary>GET /auth/sessions: the caller's live sessions.</summary>
public static class ListSessions
{
    public static async Task<Results<ListResult<SessionResponse>, ProblemHttpResult>> Handle(
        [AsParameters] PageQuery query, Caller caller, NpgsqlDataSource dataSource, ListPaging paging, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var page = paging.Parse(query, Sessions.Definition, new CursorBinding("sessions"), errors);
        if (page is null)
            return errors.ToQueryProblem();

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        var rows = await new FilteredQuery(command).Where(Sessions.LiveOfCaller, "userId", caller.UserId).ReadPageAsync(Sessions.SelectSql, page.Keyset,
            row => new Sessions.SessionRow(row.Get<Guid>("id"), row.Get<DateTime>("created_at"), row.Get<DateTime>("last_used_at"),
                row.Get<DateTime>("expires_at"), row.GetOrNull<string>("ip"), row.GetOrNull<string>("user_agent")), cancellationToken);
        return page.Result(rows, row => new SessionResponse(row.Id, row.CreatedAt, row.LastUsedAt, row.ExpiresAt, row.Ip, row.UserAgent,
            row.Id == caller.SessionId));
    }
}
