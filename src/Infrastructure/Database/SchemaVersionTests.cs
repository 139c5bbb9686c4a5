using Npgsql;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Database;

/// <summary>The migrations and the version the service expects move together, up and down.</summary>
public sealed class SchemaVersionTests
{
    [Fact]
    public async Task MigratingAnEmptyDatabaseReachesExactlyTheExpectedVersion()
    {
        var connectionString = await TestDatabases.CreateEmptyAsync();
        try
        {
            Schema.Up(connectionString);
            await using var dataSource = NpgsqlDataSource.Create(connectionString);

            Assert.Null(await new SchemaVersion(dataSource).CheckAsync(CancellationToken.None));
        }
        finally
        {
            await TestDatabases.DropAsync(connectionString);
        }
    }

    [Fact]
    public async Task EveryMigrationRevertsAndReappliesCleanly()
    {
        var connectionString = await TestDatabases.CreateEmptyAsync();
        try
        {
            Schema.Up(connectionString);
            Schema.Down(connectionString, 0);
            Schema.Up(connectionString);
            await using var dataSource = NpgsqlDataSource.Create(connectionString);

            Assert.Null(await new SchemaVersion(dataSource).CheckAsync(CancellationToken.None));
        }
        finally
        {
            await TestDatabases.DropAsync(connectionString);
        }
    }

    [Fact]
    public async Task AnUnmigratedDatabaseIsReportedAsSuch()
    {
        var connectionString = await TestDatabases.CreateEmptyAsync();
        try
        {
            await using var dataSource = NpgsqlDataSource.Create(connectionString);

            var problem = await new SchemaVersion(dataSource).CheckAsync(CancellationToken.None);

            Assert.Equal($"the database has not been migrated (expected schema version {SchemaVersion.Expected})", problem);
        }
        finally
        {
            await TestDatabases.DropAsync(connectionString);
        }
    }
}
