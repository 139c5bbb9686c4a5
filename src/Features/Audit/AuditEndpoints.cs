using Microsoft.AspNetCore.Http.Timeouts;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Audit;

public static class AuditEndpoints
{
    public static IServiceCollection AddAuditFeature(this IServiceCollection services) =>
        services.AddRetention<AuditOptions>(AuditRetention.Job);

    public static IEndpointRouteBuilder MapAudit(this IEndpointRouteBuilder api)
    {
        var audit = api.MapGroup("/audit-log")
            .WithTags("Audit")
            .RequireAuthorization(AuthSetup.AdminPolicy)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden);

        audit.MapGet("/", ListAuditLog.Handle)
            .WithName("ListAuditLog")
            .WithSummary("List the audit trail")
            .WithDescription("Admins: the audit trail, newest first, filtered by actor, action, resource and time (from inclusive, to exclusive)")
            .ProducesProblem(StatusCodes.Status400BadRequest);
        audit.MapGet("/export", ExportAuditLog.Handle)
            .WithName("ExportAuditLog")
            .WithMetadata(new DisableRequestTimeoutAttribute()) // exports stream for as long as the rows last
            .WithSummary("Admins: export the audit trail")
            .WithDescription(Exports.Description("entry", "the filters of GET /audit-log", "newest first"))
            .ProducesProblem(StatusCodes.Status400BadRequest);

        api.MapGet("/tasks/{id:guid}/audit", ListTaskAudit.Handle)
            .WithTags("Audit")
            .RequireAuthorization()
            .WithName("ListTaskAudit")
            .WithSummary("A task's audit trail")
            .WithDescription("""
                The audit entries of one task (resource `task` with its id), newest first, for anyone who may read the task:
                when, which user or API key, the action and its `diff`; `limit`, `cursor` and `fields` as on every list. The
                client address and request id stay in the admins' `GET /audit-log`, as do changes made in bulk. 404 when the
                task does not exist, is deleted, or the caller may not read it.
                """)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status404NotFound);
        return api;
    }
}
