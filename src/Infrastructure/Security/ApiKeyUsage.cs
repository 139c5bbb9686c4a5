using Dapper;
using Npgsql;

namespace TaskRunner.Infrastructure.Security;

/// <summary>
/// Keeps <c>api_keys.last_used_at</c> current to the minute without a write per request: each node writes a key's time
/// at most once per <see cref="Interval"/>, and the statement itself skips a row another node touched within it.
/// </summary>
public sealed partial class ApiKeyUsage(NpgsqlDataSource dataSource, TimeProvider clock, ILogger<ApiKeyUsage> logger)
{
    public static readonly TimeSpan Interval = TimeSpan.FromMinutes(1);

    private const string TouchSql = """
        UPDATE api_keys SET last_used_at = now()
        WHERE id = @id AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
        """;

    private readonly ExpiringCache<Guid, bool> recentlyWritten = new(CallerStateCache.Capacity, clock);

    public async ValueTask RecordAsync(Guid id, CancellationToken cancellationToken)
    {
        if (recentlyWritten.TryGet(id, out _))
            return;
        recentlyWritten.Set(id, true, clock.GetUtcNow() + Interval);
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await connection.ExecuteAsync(TouchSql, new { id, cancellationToken });
        }
        catch (NpgsqlException e)
        {
            // A usage time is bookkeeping: a database that is away must not turn an authenticated request into an error.
            LogNotRecorded(logger, id, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not record the use of API key {KeyId}: {Reason}")]
    private static partial void LogNotRecorded(ILogger logger, Guid keyId, string reason);
}
