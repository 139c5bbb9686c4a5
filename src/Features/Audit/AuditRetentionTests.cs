using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Audit;

public sealed class AuditRetentionTests : IAsyncLifetime
{
    private string connectionString = "";
    private NpgsqlDataSource dataSource = null!;
    private ServiceProvider metrics = null!;

    public async Task InitializeAsync()
    {
        connectionString = await TestDatabases.CreateAsync();
        dataSource = NpgsqlDataSource.Create(connectionString);
        metrics = new ServiceCollection().AddMetrics().BuildServiceProvider();
    }

    public async Task DisposeAsync()
    {
        await metrics.DisposeAsync();
        await dataSource.DisposeAsync();
        await TestDatabases.DropAsync(connectionString);
    }

    private RetentionSweep Retention(int days = 365, int batchSize = 1000) => TestBackground.Retention(dataSource, metrics, meters =>
        AuditRetention.Job(new AuditOptions { RetentionDays = days, RetentionBatchSize = batchSize, RetentionSweepMinutes = 60 }, meters));

    /// <summary>Entries that happened <paramref name="daysAgo"/> days ago, tagged so the test can find them.</summary>
    private async Task InsertAsync(string tag, double daysAgo, int count = 1)
    {
        await using var insert = dataSource.CreateCommand("""
            INSERT INTO audit_log (id, occurred_at, action, resource_type, resource_id)
            SELECT gen_random_uuid(), now() - make_interval(secs => $1 * 86400), 'task.delete', 'task', $2
            FROM generate_series(1, $3)
            """);
        insert.Parameters.AddWithValue(daysAgo);
        insert.Parameters.AddWithValue(tag);
        insert.Parameters.AddWithValue(count);
        await insert.ExecuteNonQueryAsync();
    }

    private async Task<long> CountAsync(string tag)
    {
        await using var count = dataSource.CreateCommand("SELECT count(*) FROM audit_log WHERE resource_id = $1");
        count.Parameters.AddWithValue(tag);
        return (long)(await count.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task ASweepDeletesOnlyEntriesOlderThanTheRetention()
    {
        await InsertAsync("ancient", 800);
        await InsertAsync("just-expired", 365.01);
        await InsertAsync("just-kept", 364.99);
        await InsertAsync("recent", 1);

        var deleted = await Retention(days: 365).SweepAsync(CancellationToken.None);

        Assert.Equal(2, deleted);
        Assert.Equal(0, await CountAsync("ancient"));
        Assert.Equal(0, await CountAsync("just-expired"));
        Assert.Equal(1, await CountAsync("just-kept"));
        Assert.Equal(1, await CountAsync("recent"));
    }

    [Fact]
    public async Task ABacklogIsDeletedInBatchesUntilABatchComesBackShort()
    {
        await InsertAsync("backlog", 30, count: 10);
        await InsertAsync("kept", 1, count: 2);
        var retention = Retention(days: 7, batchSize: 3);
        var factory = metrics.GetRequiredService<IMeterFactory>();
        var batches = new List<long>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Scope == factory && instrument.Name == "taskrunner.audit.retention.deleted")
                    listener.EnableMeasurementEvents(instrument);
            },
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => batches.Add(value));
        listener.Start();

        var deleted = await retention.SweepAsync(CancellationToken.None);

        Assert.Equal(10, deleted);
        Assert.Equal(new long[] { 3, 3, 3, 1 }, batches);
        Assert.Equal(0, await CountAsync("backlog"));
        Assert.Equal(2, await CountAsync("kept"));
    }

    [Fact]
    public async Task StoppingDuringASweepEndsItPromptlyAndKeepsTheBatchesAlreadyDeleted()
    {
        await InsertAsync("long-backlog", 30, count: 200);
        var retention = Retention(days: 7, batchSize: 1);

        await retention.StartAsync(CancellationToken.None);
        var waited = Stopwatch.StartNew();
        while (await CountAsync("long-backlog") == 200 && waited.Elapsed < TimeSpan.FromSeconds(10))
            await Task.Delay(20);
        var stopping = Stopwatch.StartNew();
        await retention.StopAsync(CancellationToken.None);

        Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(2), $"stopping took {stopping.Elapsed}");
        Assert.True(retention.ExecuteTask!.IsCompletedSuccessfully);
        Assert.InRange(await CountAsync("long-backlog"), 1, 199);
    }
}
