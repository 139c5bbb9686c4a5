using Npgsql;

namespace TaskRunner.Infrastructure.Database;

/// <summary>
/// Opens the first pooled connection while Kestrel starts, off the start-up path: Npgsql loads the server's type catalog
/// on a data source's first connection (≈ 60 ms here), which would otherwise land on the first request.
/// A failure is ignored: readiness reports an unreachable database on its own.
/// </summary>
public sealed class DatabaseWarmUp(NpgsqlDataSource dataSource) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        InBackground(async () =>
        {
            await using var connection = await dataSource.OpenConnectionAsync(CancellationToken.None);
        });
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Runs <paramref name="warmUp"/> on the thread pool without waiting for it; a database failure is ignored.</summary>
    public static void InBackground(Func<Task> warmUp) =>
        _ = Task.Run(async () =>
        {
            try
            {
                await warmUp();
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
            {
                // Reported by the readiness check.
            }
        }, CancellationToken.None);
}
