using Microsoft.Extensions.DependencyInjection;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Tasks;

public sealed class TaskRetentionTests : DatabaseTest
{
    private ServiceProvider metrics = null!;
    private Guid userId;
    private Guid projectId;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        metrics = new ServiceCollection().AddMetrics().BuildServiceProvider();
        userId = Guid.CreateVersion7();
        projectId = Guid.CreateVersion7();
        await using var insert = DataSource.CreateCommand("""
            WITH owner AS (INSERT INTO users (id, email, display_name, role, password_hash) VALUES ($1, $2, 'Owner', 'member', 'x'))
            INSERT INTO projects (id, name, created_by) VALUES ($3, 'Retention', $1)
            """);
        insert.Parameters.AddWithValue(userId);
        insert.Parameters.AddWithValue($"{userId:N}@example.test");
        insert.Parameters.AddWithValue(projectId);
        await insert.ExecuteNonQueryAsync();
    }

    private RetentionSweep Retention(int days = 30, int batchSize = 500) => TestBackground.Retention(DataSource, metrics, meters =>
        TaskRetention.Job(new TasksOptions { RetentionDays = days, RetentionBatchSize = batchSize, RetentionSweepMinutes = 60 }, meters));

    /// <summary>Tasks titled <paramref name="title"/>, deleted <paramref name="deletedDaysAgo"/> days ago (null: live), each with a comment deleted as long ago.</summary>
    private async Task InsertAsync(string title, double? deletedDaysAgo, int count = 1)
    {
        await using var insert = DataSource.CreateCommand("""
            WITH created AS (
                INSERT INTO tasks (id, project_id, title, created_by, deleted_at)
                SELECT gen_random_uuid(), $1, $2, $3, now() - make_interval(secs => $4 * 86400)
                FROM generate_series(1, $5)
                RETURNING id, deleted_at)
            INSERT INTO task_comments (id, task_id, author_id, body, deleted_at)
            SELECT gen_random_uuid(), id, $3, 'note', deleted_at FROM created
            """);
        insert.Parameters.AddWithValue(projectId);
        insert.Parameters.AddWithValue(title);
        insert.Parameters.AddWithValue(userId);
        insert.Parameters.AddWithValue(deletedDaysAgo is null ? DBNull.Value : deletedDaysAgo.Value);
        insert.Parameters.AddWithValue(count);
        await insert.ExecuteNonQueryAsync();
    }

    private async Task<long> CountAsync(string sql, params object[] values)
    {
        await using var count = DataSource.CreateCommand(sql);
        foreach (var value in values)
            count.Parameters.AddWithValue(value);
        return (long)(await count.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task ASweepPurgesOnlyTasksAndCommentsDeletedLongerThanTheRetention()
    {
        await InsertAsync("live", null);
        await InsertAsync("recently deleted", 29);
        await InsertAsync("long deleted", 31, count: 3);

        var purged = await Retention(days: 30).SweepAsync(CancellationToken.None);

        Assert.Equal(3, purged);
        Assert.Equal(0L, await CountAsync("SELECT count(*) FROM tasks WHERE title = 'long deleted'"));
        Assert.Equal(1L, await CountAsync("SELECT count(*) FROM tasks WHERE title = 'recently deleted'"));
        Assert.Equal(1L, await CountAsync("SELECT count(*) FROM tasks WHERE title = 'live'"));
        Assert.Equal(2L, await CountAsync("SELECT count(*) FROM task_comments"));
    }

    [Fact]
    public async Task ADeletedCommentOfALiveTaskIsPurgedOnItsOwn()
    {
        await InsertAsync("live", null);
        await using (var comment = DataSource.CreateCommand("""
            INSERT INTO task_comments (id, task_id, author_id, body, deleted_at)
            SELECT gen_random_uuid(), id, $1, 'old', now() - interval '40 days' FROM tasks WHERE title = 'live'
            """))
        {
            comment.Parameters.AddWithValue(userId);
            await comment.ExecuteNonQueryAsync();
        }

        var purged = await Retention(days: 30).SweepAsync(CancellationToken.None);

        Assert.Equal(1, purged);
        Assert.Equal(0L, await CountAsync("SELECT count(*) FROM task_comments WHERE body = 'old'"));
        Assert.Equal(1L, await CountAsync("SELECT count(*) FROM task_comments"));
    }

    [Fact]
    public async Task ABacklogIsPurgedInBatches()
    {
        await InsertAsync("long deleted", 40, count: 7);

        var purged = await Retention(days: 30, batchSize: 3).SweepAsync(CancellationToken.None);

        // The comments go with their tasks (the foreign key cascades), so only the tasks are counted.
        Assert.Equal(7, purged);
        Assert.Equal(0L, await CountAsync("SELECT count(*) FROM tasks"));
        Assert.Equal(0L, await CountAsync("SELECT count(*) FROM task_comments"));
    }

    [Fact]
    public async Task ExpiredIdempotencyKeysAreDeletedAndLiveOnesKept()
    {
        await using (var insert = DataSource.CreateCommand("""
            INSERT INTO idempotency_keys (user_id, key, request_hash, expires_at)
            SELECT $1, 'key-' || n, decode(repeat('ab', 32), 'hex'), now() + CASE WHEN n <= 2 THEN interval '-1 hour' ELSE interval '1 hour' END
            FROM generate_series(1, 5) AS n
            """))
        {
            insert.Parameters.AddWithValue(userId);
            await insert.ExecuteNonQueryAsync();
        }
        var retention = TestBackground.Retention(DataSource, metrics, IdempotencyRetention.Job);

        var deleted = await retention.SweepAsync(CancellationToken.None);

        Assert.Equal(2, deleted);
        Assert.Equal(3L, await CountAsync("SELECT count(*) FROM idempotency_keys"));
    }
}
