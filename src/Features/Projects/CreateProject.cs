using System.Text.Json;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Features.Webhooks;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Projects;

public sealed record CreateProjectRequest([property: ApiRequired] string? Name, string? Description);

/// <summary>
/// Members and admins create projects; the creator becomes the project's owner, and the project gets the secret that signs
/// its deliveries (sealed like every signing secret), in the same transaction. The secret is answered this once.
/// </summary>
public static class CreateProject
{
    private const string InsertSql = """
        INSERT INTO projects (id, name, description, created_by)
        VALUES (@id, @name, @description, @createdBy)
        RETURNING id, name, description, created_by, created_at, updated_at, deleted_at, version
        """;

    private const string InsertOwnerSql = """
        INSERT INTO project_members (project_id, user_id, role, added_by)
        VALUES (@projectId, @userId, 'owner', @userId)
        """;

    public static async Task<Results<Created<CreatedProjectResponse>, ProblemHttpResult>> Handle(
        CreateProjectRequest request,
        Caller caller,
        HttpContext http,
        NpgsqlDataSource dataSource,
        WebhookSecretVault vault,
        IOptions<WebhooksOptions> webhooks,
        CancellationToken cancellationToken)
    {
        if (!caller.CanWrite)
            return Problems.Forbidden("Viewers cannot create projects.");
        var errors = new ValidationErrors();
        var name = ProjectRules.Name(request.Name, errors);
        ProjectRules.Description(request.Description, errors);
        if (!errors.IsEmpty)
            return errors.ToProblem();

        var id = Ids.New();
        var (project, secret) = await dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            var created = await connection.QuerySingleAsync<ProjectRow>(InsertSql, new
            {
                id,
                name,
                description = request.Description,
                createdBy = caller.UserId,
                cancellationToken,
            }, transaction);
            await connection.ExecuteAsync(InsertOwnerSql, new { projectId = id, userId = caller.UserId, cancellationToken }, transaction);
            var secret = await WebhookSecrets.RotateAsync(connection, transaction, null, id, vault, webhooks.Value.SecretGraceHours, cancellationToken);
            await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("project.create", "project", id.ToString(),
                AuditActor.From(http, caller),
                new AuditDiff().Change("name", null, created.Name).Change("description", null, created.Description).ToJson()),
                cancellationToken);
            return (created, secret.Secret);
        }, cancellationToken);
        ETags.Set(http, project.Version);
        // A replay under the same Idempotency-Key answers the project without its secret: the stored copy must not keep it.
        http.ReplayWith(JsonSerializer.SerializeToUtf8Bytes(project.ToResponse(), AppJsonContext.Default.ProjectResponse));
        return TypedResults.Created($"/api/v1/projects/{id}", project.ToCreatedResponse(secret));
    }
}
