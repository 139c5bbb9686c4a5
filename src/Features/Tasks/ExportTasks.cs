using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Tasks;

/// <summary>
/// GET /tasks/export: every task the caller may read that the list's filters match, oldest first (id order), as NDJSON or
/// CSV, streamed from a server-side cursor: constant memory whatever the count. <c>fields</c> narrows each row (the CSV
/// columns); paging parameters are refused.
/// </summary>
public static class ExportTasks
{
    public static Results<ExportResult<TaskResponse>, ProblemHttpResult> Handle(
        [AsParameters] ListTasksQuery query, Caller caller, HttpContext http, NpgsqlDataSource dataSource)
    {
        var errors = new ValidationErrors();
        var filters = TaskFilters.Parse(query, errors);
        var fields = ListTasks.Definition.Fields.Parse(query.Fields, errors);
        Exports.RejectPaging(query, errors);
        if (fields is null || !errors.IsEmpty)
            return errors.ToQueryProblem();
        if (Exports.Negotiate(http.Request) is not { } format)
            return Exports.NotAcceptable(http);

        return new ExportResult<TaskResponse>("tasks", fields, format, cancellationToken => ServerCursor.ReadAsync(dataSource, command =>
        {
            var sql = filters.ApplyTo(new FilteredQuery(command), caller);
            if (filters.Q is not null)
                sql.Where(TaskFilters.Matches, "q", filters.Q);
            sql.Complete(ServerCursor.Declare + TaskReads.SelectSql, "ORDER BY t.id");
        }, row => TaskRowReader.Read(row).ToResponse(), cancellationToken));
    }
}
