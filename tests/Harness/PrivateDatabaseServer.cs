using Npgsql;

namespace TaskRunner.Tests.Harness;

/// <summary>
/// A PostgreSQL server of one test class's own (a scripts/pg.sh instance named for this process), for fault tests that
/// stop and start the server while the service runs; the shared test server must never go down under other classes.
/// </summary>
public sealed class PrivateDatabaseServer : IAsyncDisposable
{
    private PrivateDatabaseServer(string instance) => Instance = instance;

    /// <summary>Starts with "test" so pg.sh runs it without fsync, like the shared test server.</summary>
    public string Instance { get; }

    public static async Task<PrivateDatabaseServer> StartAsync(string purpose)
    {
        var server = new PrivateDatabaseServer($"test-{purpose}-{Environment.ProcessId}");
        await server.StartAsync();
        return server;
    }

    /// <summary>A new, migrated database on this server; returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var maintenance = (await Scripts.RunAsync("pg.sh", $"connstr postgres {Instance}")).Trim();
        await using (var connection = new NpgsqlConnection(maintenance))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand("DROP DATABASE IF EXISTS taskrunner WITH (FORCE); CREATE DATABASE taskrunner", connection);
            await create.ExecuteNonQueryAsync();
        }
        var database = new NpgsqlConnectionStringBuilder(maintenance) { Database = "taskrunner" }.ConnectionString;
        Schema.Up(database);
        return database;
    }

    /// <summary>Starts the server again on the port it had.</summary>
    public Task StartAsync() => Scripts.RunAsync("pg.sh", $"start {Instance}");

    /// <summary>PostgreSQL's fast shutdown: every backend ends with "terminating connection due to administrator command".</summary>
    public Task StopAsync() => Scripts.RunAsync("pg.sh", $"stop {Instance}");

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await Scripts.RunAsync("pg.sh", $"destroy {Instance}");
    }
}
