using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Webhooks;

/// <summary>
/// A new signing secret, shown this once. Until <see cref="PreviousRetiresAt"/> the secret it replaced signs too (both
/// signatures travel in <c>webhook-signature</c>), so receivers can switch without rejecting a delivery.
/// </summary>
public sealed record WebhookSecretResponse(string Secret, DateTime CreatedAt, DateTime? PreviousRetiresAt);

/// <summary>
/// Secrets of templates and projects (a project's secret signs the inline actions of its tasks). Rotating gives every
/// still-active secret of the owner <c>Webhooks:SecretGraceHours</c> to live, then adds the new one.
/// </summary>
public static class WebhookSecrets
{
    // Exactly one of @templateId, @projectId is set; the other compares as null, so matches nothing.
    private const string RotateSql = """
        WITH retired AS (
            UPDATE webhook_secrets SET retires_at = now() + make_interval(hours => @graceHours)
            WHERE (template_id = @templateId OR project_id = @projectId) AND retires_at IS NULL
            RETURNING retires_at
        ),
        created AS (
            INSERT INTO webhook_secrets (id, template_id, project_id, secret) VALUES (@id, @templateId, @projectId, @secret)
            RETURNING created_at
        )
        SELECT (SELECT created_at FROM created) AS created_at, (SELECT max(retires_at) FROM retired) AS previous_retires_at
        """;

    internal sealed record Rotated(DateTime CreatedAt, DateTime? PreviousRetiresAt);

    /// <summary>Stores a new secret for the template or the project (sealed by the vault) and returns it, to be shown this once.</summary>
    public static async Task<WebhookSecretResponse> RotateAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid? templateId, Guid? projectId, WebhookSecretVault vault, int graceHours,
        CancellationToken cancellationToken)
    {
        var secret = WebhookSigning.NewSecret();
        var rotated = await connection.QuerySingleAsync<Rotated>(RotateSql,
            new { id = Ids.New(), templateId, projectId, secret = vault.Seal(secret), graceHours, cancellationToken }, transaction);
        return new WebhookSecretResponse(secret, rotated.CreatedAt, rotated.PreviousRetiresAt);
    }

    // The lock rotation takes too, so a secret created here and a rotation never both become the active one.
    private const string LockProjectSql = "SELECT id FROM projects WHERE id = @projectId FOR NO KEY UPDATE";

    // A statement of its own after the lock: it sees a secret committed while we waited for it.
    private const string CreateMissingSql = """
        INSERT INTO webhook_secrets (id, project_id, secret)
        SELECT @id, @projectId, @secret
        WHERE EXISTS (SELECT FROM projects WHERE id = @projectId)
          AND NOT EXISTS (SELECT FROM webhook_secrets WHERE project_id = @projectId AND (retires_at IS NULL OR retires_at > now()))
        """;

    private const string ActiveProjectSecretsSql = """
        SELECT secret FROM webhook_secrets
        WHERE project_id = @projectId AND (retires_at IS NULL OR retires_at > now())
        ORDER BY created_at DESC
        """;

    /// <summary>
    /// The project's active secrets as stored (newest first), after giving it one when it had none: a project created before
    /// every project got a secret at creation (or written by an older node during an upgrade). Nobody has seen that secret;
    /// the project's editors learn one by rotating. Empty only when the project is gone.
    /// </summary>
    public static async Task<string[]> EnsureProjectSecretAsync(
        NpgsqlDataSource dataSource, Guid projectId, WebhookSecretVault vault, CancellationToken cancellationToken) =>
        await dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            await connection.QuerySingleOrDefaultAsync<Guid?>(LockProjectSql, new { projectId, cancellationToken }, transaction);
            await connection.ExecuteAsync(CreateMissingSql,
                new { id = Ids.New(), projectId, secret = vault.Seal(WebhookSigning.NewSecret()), cancellationToken }, transaction);
            return (await connection.QueryAsync<string>(ActiveProjectSecretsSql, new { projectId, cancellationToken }, transaction)).ToArray();
        }, cancellationToken);

    private const string ProjectSql = """
        SELECT p.id FROM projects p WHERE p.id = @id AND p.deleted_at IS NULL AND
        """ + ProjectAccess.OnProjectRow + """

        FOR UPDATE OF p
        """;

    /// <summary>
    /// POST /projects/{id}/webhook-secret: creates or rotates the secret that signs the inline actions of the project's
    /// tasks. Project editors; 404 for a project the caller may not edit or see.
    /// </summary>
    public static async Task<Results<Ok<WebhookSecretResponse>, ProblemHttpResult>> RotateProjectSecret(
        Guid id, Caller caller, NpgsqlDataSource dataSource, WebhookSecretVault vault, IOptions<WebhooksOptions> options, CancellationToken cancellationToken)
    {
        var access = ProjectAccess.Bind(caller, ProjectRoles.Editor);
        var created = await dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            var project = await connection.QuerySingleOrDefaultAsync<Guid?>(ProjectSql, access.On(id, cancellationToken), transaction);
            return project is null ? null : await RotateAsync(connection, transaction, null, id, vault, options.Value.SecretGraceHours, cancellationToken);
        }, cancellationToken);
        return created is null ? Problems.NotFound("No such project, or you are not one of its editors.") : TypedResults.Ok(created);
    }
}
