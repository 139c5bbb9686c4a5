using Dapper;
using Npgsql;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Events;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.RealTime;

/// <summary>What a socket subscribes to: one project, one task or one batch; the events it gets are those of that row.</summary>
public enum SubscriptionKind
{
    Project,
    Task,
    Batch,
}

public readonly record struct SubscriptionTarget(SubscriptionKind Kind, Guid Id)
{
    /// <summary>The field that names it in client messages and in events' data.</summary>
    public string Field => Kind switch
    {
        SubscriptionKind.Project => "project_id",
        SubscriptionKind.Task => "task_id",
        _ => "batch_id",
    };

    public bool Matches(LoggedEvent logged) => Kind switch
    {
        SubscriptionKind.Project => logged.ProjectId == Id,
        SubscriptionKind.Task => logged.TaskId == Id,
        _ => logged.BatchId == Id,
    };
}

/// <summary>
/// The credential a socket stands for (a session or an API key of a user) and the user's role through it, looked up when the
/// socket opens and again whenever the auth-changes channel says it may have changed.
/// </summary>
public sealed record SocketCredential(Guid UserId, Guid? SessionId, Guid? ApiKeyId, string Role)
{
    public Caller AsCaller() => new(UserId, Role, SessionId, ApiKeyId);
}

/// <summary>The reads that decide what a socket may see: its credential, and whether the rows it subscribes to are readable.</summary>
public static class SocketAccess
{
    private const string CredentialColumns = """
        u.role AS user_role, k.role AS key_role,
        NOT u.disabled AND u.deleted_at IS NULL
            AND (c.session_id IS NULL OR EXISTS (
                SELECT FROM sessions s WHERE s.id = c.session_id AND s.user_id = u.id AND s.revoked_at IS NULL AND s.expires_at > now()))
            AND (c.api_key_id IS NULL OR (k.id IS NOT NULL AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now()))) AS active
        """;

    /// <summary>Used once: the row goes in the statement that reads it, so two nodes can never both accept one ticket.</summary>
    private const string RedeemTicketSql = """
        WITH c AS (
            DELETE FROM ws_tickets WHERE secret_hash = decode(@secretHash, 'hex') AND expires_at > now()
            RETURNING user_id, session_id, api_key_id
        )
        SELECT c.user_id, c.session_id, c.api_key_id,
        """ + CredentialColumns + """

        FROM c
        JOIN users u ON u.id = c.user_id
        LEFT JOIN api_keys k ON k.id = c.api_key_id AND k.user_id = u.id
        """;

    private const string CredentialSql = """
        SELECT c.user_id, c.session_id, c.api_key_id,
        """ + CredentialColumns + """

        FROM (SELECT @userId AS user_id, @sessionId::uuid AS session_id, @apiKeyId::uuid AS api_key_id) c
        JOIN users u ON u.id = c.user_id
        LEFT JOIN api_keys k ON k.id = c.api_key_id AND k.user_id = u.id
        """;

    private const string TaskProjectSql = """
        SELECT t.project_id FROM tasks t JOIN projects p ON p.id = t.project_id
        WHERE t.id = @id AND t.deleted_at IS NULL AND p.deleted_at IS NULL AND
        """ + ProjectAccess.OnTaskRow;

    // Through tasks_batch_idx; a batch's tasks are all in one project.
    private const string BatchProjectSql = """
        SELECT t.project_id FROM tasks t JOIN projects p ON p.id = t.project_id
        WHERE t.batch_id = @id AND t.deleted_at IS NULL AND p.deleted_at IS NULL AND
        """ + ProjectAccess.OnTaskRow + """

        LIMIT 1
        """;

    private const string ReadableProjectsSql = """
        SELECT p.id FROM projects p
        WHERE p.id = ANY (@ids::uuid[]) AND p.deleted_at IS NULL AND
        """ + ProjectAccess.OnProjectRow;

    internal sealed record CredentialRow(Guid UserId, Guid? SessionId, Guid? ApiKeyId, string UserRole, string? KeyRole, bool Active);

    /// <summary>The credential a ticket stands for, if the ticket is unused, unexpired and its credential still live; the ticket is spent either way.</summary>
    public static async Task<SocketCredential?> RedeemTicketAsync(NpgsqlDataSource dataSource, string ticket, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<CredentialRow>(RedeemTicketSql,
            new { secretHash = OpaqueTokens.HashHex(ticket), cancellationToken });
        return Live(row);
    }

    /// <summary>The credential as it is now; null once revoked, expired or its user disabled.</summary>
    public static async Task<SocketCredential?> CurrentAsync(NpgsqlDataSource dataSource, SocketCredential credential, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<CredentialRow>(CredentialSql,
            new { userId = credential.UserId, sessionId = credential.SessionId, apiKeyId = credential.ApiKeyId, cancellationToken });
        return Live(row);
    }

    private static SocketCredential? Live(CredentialRow? row)
    {
        if (row is not { Active: true })
            return null;
        // A key never acts above its owner's current role.
        var role = row.KeyRole is { } keyRole && Roles.Rank(keyRole) < Roles.Rank(row.UserRole) ? keyRole : row.UserRole;
        return new SocketCredential(row.UserId, row.SessionId, row.ApiKeyId, role);
    }

    /// <summary>The project whose events a subscription may carry, or null when the caller may not read the row (or it does not exist).</summary>
    public static async Task<Guid?> ReadableProjectAsync(
        NpgsqlDataSource dataSource, Caller caller, SubscriptionTarget target, CancellationToken cancellationToken)
    {
        var args = ProjectAccess.Bind(caller, ProjectRoles.Viewer).On(target.Id, cancellationToken);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return target.Kind switch
        {
            SubscriptionKind.Project => await connection.ExecuteScalarAsync<bool>(ProjectAccess.LiveProjectReadableSql, args) ? target.Id : null,
            SubscriptionKind.Task => await connection.QuerySingleOrDefaultAsync<Guid?>(TaskProjectSql, args),
            _ => await connection.QuerySingleOrDefaultAsync<Guid?>(BatchProjectSql, args),
        };
    }

    /// <summary>Which of <paramref name="projects"/> the caller may still read.</summary>
    public static async Task<HashSet<Guid>> ReadableProjectsAsync(
        NpgsqlDataSource dataSource, Caller caller, IEnumerable<Guid> projects, CancellationToken cancellationToken)
    {
        var access = ProjectAccess.Bind(caller, ProjectRoles.Viewer);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var readable = await connection.QueryAsync<Guid>(ReadableProjectsSql,
            new { ids = PgArray.Of(projects), access.CallerId, access.CallerIsAdmin, access.CallerCanWrite, access.RequiredRank, cancellationToken });
        return readable.ToHashSet();
    }
}
