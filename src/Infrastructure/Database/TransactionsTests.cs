using Npgsql;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Database;

public sealed class TransactionsTests : DatabaseTest
{
    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await using var create = DataSource.CreateCommand("CREATE TABLE counters (id int PRIMARY KEY, value int NOT NULL)");
        await create.ExecuteNonQueryAsync();
        await using var seed = DataSource.CreateCommand("INSERT INTO counters VALUES (1, 0)");
        await seed.ExecuteNonQueryAsync();
    }

    [Fact]
    public async Task AFailureInsideTheUnitRollsBackEveryWriteOfIt()
    {
        await Assert.ThrowsAsync<InvalidOperationException>(() => DataSource.InTransactionAsync<int>(async (connection, transaction) =>
        {
            await using var update = new NpgsqlCommand("UPDATE counters SET value = 42 WHERE id = 1", connection, transaction);
            await update.ExecuteNonQueryAsync();
            throw new InvalidOperationException("boom");
        }, CancellationToken.None));

        Assert.Equal(0, await ValueAsync());
    }

    [Fact]
    public async Task ConcurrentSerializableUnitsAreRetriedUntilEachCommitsOnce()
    {
        var units = Enumerable.Range(0, 4).Select(_ => DataSource.InTransactionAsync(async (connection, transaction) =>
        {
            await using var read = new NpgsqlCommand("SELECT value FROM counters WHERE id = 1", connection, transaction);
            var value = (int)(await read.ExecuteScalarAsync())!;
            await Task.Delay(50);
            await using var write = new NpgsqlCommand("UPDATE counters SET value = @value WHERE id = 1", connection, transaction);
            write.Parameters.AddWithValue("value", value + 1);
            await write.ExecuteNonQueryAsync();
            return value;
        }, CancellationToken.None, System.Data.IsolationLevel.Serializable));

        var results = await Task.WhenAll(units.Select(async unit =>
        {
            try
            {
                await unit;
                return true;
            }
            catch (PostgresException e) when (PgErrors.IsRetryable(e))
            {
                return false;
            }
        }));

        // Lost updates are impossible: the counter equals the number of units that committed.
        Assert.Equal(results.Count(committed => committed), await ValueAsync());
        Assert.True(results.Count(committed => committed) >= 2, "retries should let more than one unit through");
    }

    [Fact]
    public void IdsAreTimeOrderedVersion7Uuids()
    {
        var first = Ids.New();
        var second = Ids.New();

        Assert.Equal(7, first.Version);
        Assert.True(string.CompareOrdinal(first.ToString(), second.ToString()) < 0 || first.ToString()[..8] == second.ToString()[..8]);
    }

    private async Task<int> ValueAsync()
    {
        await using var read = DataSource.CreateCommand("SELECT value FROM counters WHERE id = 1");
        return (int)(await read.ExecuteScalarAsync())!;
    }
}
