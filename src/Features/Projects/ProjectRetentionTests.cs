using Microsoft.Extensions.DependencyInjection;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Projects;

public sealed class ProjectRetentionTests : DatabaseTest
{
    private ServiceProvider metrics = null!;
    private Guid userId;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        metrics = new ServiceCollection().AddMetrics().BuildServiceProvider();
        userId = Guid.CreateVersion7();
        await using var insert = DataSource.CreateCommand(
            "INSERT INTO users (id, email, display_name, role, password_hash) VALUES ($1, $2, 'Owner', 'member', 'x')");
        insert.Parameters.AddWithValue(userId);
        insert.Parameters.AddWithValue($"{userId:N}@example.test");
        await insert.ExecuteNonQueryAsync();
    }

    private RetentionSweep Retention(int days = 30, int batchSize = 500) => TestBackground.Retention(DataSource, metrics, meters =>
        ProjectRetention.Job(new ProjectsOptions { RetentionDays = days, RetentionBatchSize = batchSize, RetentionSweepMinutes = 60 }, meters));

    /// <summary>Projects named <paramref name="name"/>, deleted <paramref name="deletedDaysAgo"/> days ago (null: live), each with a task.</summary>
    private async Task InsertAsync(string name, double? deletedDaysAgo, int count = 1)
    {
        await using var insert = DataSource.CreateCommand("""
            WITH created AS (
                INSERT INTO projects (id, name, created_by, deleted_at)
                SELECT gen_random_uuid(), $1, $2, now() - make_interval(secs => $3 * 86400)
                FROM generate_series(1, $4)
                RETURNING id, deleted_at)
            INSERT INTO tasks (id, project_id, title, created_by, deleted_at)
            SELECT gen_random_uuid(), id, 'task', $2, deleted_at FROM created
            """);
        insert.Parameters.AddWithValue(name);
        insert.Parameters.AddWithValue(userId);
        insert.Parameters.AddWithValue(deletedDaysAgo is null ? DBNull.Value : deletedDaysAgo.Value);
        insert.Parameters.AddWithValue(count);
        await insert.ExecuteNonQueryAsync();
    }

    private async Task<long> CountAsync(string name)
    {
        await using var count = DataSource.CreateCommand("SELECT count(*) FROM projects WHERE name = $1");
        count.Parameters.AddWithValue(name);
        return (long)(await count.ExecuteScalarAsync())!;
    }

    private async Task<long> CountTasksAsync()
    {
        await using var count = DataSource.CreateCommand("SELECT count(*) FROM tasks");
        return (long)(await count.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task ASweepPurgesOnlyProjectsDeletedLongerThanTheRetentionWithTheirTasks()
    {
        await InsertAsync("ancient", 400);
        await InsertAsync("just-expired", 30.01);
        await InsertAsync("just-kept", 29.99);
        await InsertAsync("live", null);

        var purged = await Retention(days: 30).SweepAsync(CancellationToken.None);

        Assert.Equal(2, purged);
        Assert.Equal(0, await CountAsync("ancient"));
        Assert.Equal(0, await CountAsync("just-expired"));
        Assert.Equal(1, await CountAsync("just-kept"));
        Assert.Equal(1, await CountAsync("live"));
        Assert.Equal(2, await CountTasksAsync());
    }

    [Fact]
    public async Task ABacklogIsPurgedInBatches()
    {
        await InsertAsync("backlog", 60, count: 7);
        await InsertAsync("live", null, count: 2);

        var purged = await Retention(days: 30, batchSize: 3).SweepAsync(CancellationToken.None);

        Assert.Equal(7, purged);
        Assert.Equal(0, await CountAsync("backlog"));
        Assert.Equal(2, await CountAsync("live"));
    }

    [Fact]
    public void TheRetentionSettingsAreValidated()
    {
        var validator = new ProjectsOptionsValidator();

        var result = validator.Validate(null, new ProjectsOptions { RetentionDays = 0, RetentionBatchSize = 0 });

        Assert.True(result.Failed);
        Assert.Contains("RetentionDays", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("RetentionBatchSize", result.FailureMessage, StringComparison.Ordinal);
    }
}
