using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;

namespace TaskRunner.Features.Audit;

/// <summary>
/// GET /audit-log/export (admins): every entry the list's filters match, newest first, as NDJSON or CSV, streamed from a
/// server-side cursor: constant memory whatever the count. <c>fields</c> narrows each row; paging parameters are refused.
/// </summary>
public static class ExportAuditLog
{
    public static Results<ExportResult<AuditEntryResponse>, ProblemHttpResult> Handle(
        [AsParameters] ListAuditLogQuery query, HttpContext http, NpgsqlDataSource dataSource)
    {
        var errors = new ValidationErrors();
        var filter = ListAuditLog.ParseFilter(query, errors);
        var fields = ListAuditLog.Definition.Fields.Parse(query.Fields, errors);
        Exports.RejectPaging(query, errors);
        if (fields is null || !errors.IsEmpty)
            return errors.ToQueryProblem();
        if (Exports.Negotiate(http.Request) is not { } format)
            return Exports.NotAcceptable(http);

        return new ExportResult<AuditEntryResponse>("audit-log", fields, format, cancellationToken => ServerCursor.ReadAsync(dataSource,
            command => ListAuditLog.ApplyFilter(new FilteredQuery(command), filter)
                .Complete(ServerCursor.Declare + ListAuditLog.SelectSql, "ORDER BY occurred_at DESC, id DESC"),
            row => ListAuditLog.ReadRow(row).ToResponse(), cancellationToken));
    }
}
