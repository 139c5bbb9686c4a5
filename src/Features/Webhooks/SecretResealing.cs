using Dapper;
using Npgsql;
using TaskRunner.Infrastructure.Hosting;

namespace TaskRunner.Features.Webhooks;

/// <summary>
/// At start, seals under the active key every stored signing secret that is not yet: plain ones stored before a key was
/// configured, and ones sealed under an older key. Once one node with the new active key has started, the old key can be
/// dropped from the configuration. Several nodes starting at once do the same work; each row is replaced only if it still
/// holds the value read, so none is written twice. A pass that fails is started again after a backoff until one completes.
/// </summary>
public sealed class SecretResealing(
    NpgsqlDataSource dataSource, WebhookSecretVault vault, BackgroundFailures failures, ILogger<SecretResealing> logger) : BackgroundService
{
    private const int BatchSize = 500;

    private const string StaleSql = """
        SELECT id, secret FROM webhook_secrets
        WHERE NOT starts_with(secret, @activePrefix) AND id > @after
        ORDER BY id
        LIMIT @batchSize
        """;

    private const string ResealSql = "UPDATE webhook_secrets SET secret = @replacement WHERE id = @id AND secret = @stored";

    internal sealed record StoredSecret(Guid Id, string Secret);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (vault.ActivePrefix is not { } activePrefix)
            return;
        var guard = failures.For("secret-resealing");
        try
        {
            while (!await guard.RunAsync(cancellationToken => ResealAsync(activePrefix, cancellationToken), stoppingToken))
            {
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task ResealAsync(string activePrefix, CancellationToken stoppingToken)
    {
        var (resealed, unopened) = (0, 0);
        var after = Guid.Empty;
        while (true)
        {
            await using var connection = await dataSource.OpenConnectionAsync(stoppingToken);
            var batch = (await connection.QueryAsync<StoredSecret>(StaleSql,
                new { activePrefix, after, batchSize = BatchSize, cancellationToken = stoppingToken })).ToList();
            foreach (var stored in batch)
            {
                if (!vault.TryOpen(stored.Secret, out var secret, out var error))
                {
                    unopened++;
                    logger.LogWarning("Webhook secret {SecretId} was not resealed: {Reason}", stored.Id, error);
                    continue;
                }
                resealed += await connection.ExecuteAsync(ResealSql,
                    new { id = stored.Id, stored = stored.Secret, replacement = vault.Seal(secret), cancellationToken = stoppingToken });
            }
            if (batch.Count < BatchSize)
                break;
            after = batch[^1].Id;
        }
        if (resealed > 0 || unopened > 0)
            logger.LogInformation("Webhook secrets resealed under the active key: {Resealed}; left as they were: {Unopened}", resealed, unopened);
    }
}
