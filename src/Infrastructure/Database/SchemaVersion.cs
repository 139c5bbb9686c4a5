using Dapper;
using Npgsql;

namespace TaskRunner.Infrastructure.Database;

/// <summary>
/// The schema version this build expects. Migrations run before the service (make run, the test harness, an init container);
/// the service only checks, and refuses readiness until the database is at exactly this version.
/// </summary>
public sealed class SchemaVersion(NpgsqlDataSource dataSource)
{
    /// <summary>Raise this together with every new migration in migrations/.</summary>
    public const long Expected = 36;

    private const string CurrentVersionSql = """
        SELECT coalesce(max("Version"), 0)
        FROM public."VersionInfo"
        """;

    private volatile bool confirmed;

    /// <summary>Null when the schema is current; otherwise why it is not. Once confirmed, it is not asked again.</summary>
    public async Task<string?> CheckAsync(CancellationToken cancellationToken)
    {
        if (confirmed)
            return null;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        long current;
        try
        {
            current = await connection.ExecuteScalarAsync<long>(CurrentVersionSql, new { cancellationToken });
        }
        catch (PostgresException e) when (e.SqlState == "42P01")
        {
            return $"the database has not been migrated (expected schema version {Expected})";
        }
        if (current != Expected)
            return $"schema version is {current}, this build expects {Expected}";
        confirmed = true;
        return null;
    }
}
