using Npgsql;
using Xunit;

namespace TaskRunner.Tests.Harness;

/// <summary>
/// For tests that call code directly against real PostgreSQL (no HTTP): each test gets a fresh migrated database and a
/// data source on it, dropped afterwards.
/// </summary>
public abstract class DatabaseTest : IAsyncLifetime
{
    protected string ConnectionString { get; private set; } = "";

    protected NpgsqlDataSource DataSource { get; private set; } = null!;

    public virtual async Task InitializeAsync()
    {
        ConnectionString = await TestDatabases.CreateAsync();
        DataSource = NpgsqlDataSource.Create(ConnectionString);
    }

    public async Task DisposeAsync()
    {
        await DataSource.DisposeAsync();
        await TestDatabases.DropAsync(ConnectionString);
    }
}
