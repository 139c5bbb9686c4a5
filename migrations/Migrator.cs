using FluentMigrator.Runner;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace TaskRunner.Migrations;

/// <summary>Applies, reverts and lists the numbered migrations in this assembly, one runner at a time per database.</summary>
public static class Migrator
{
    /// <summary>Serialises concurrent migrators (several init containers starting at once) on one database.</summary>
    private const long AdvisoryLockKey = 0x7461736b72756e; // "taskrun"

    public static void Up(string connectionString, bool verbose = true) =>
        WithRunner(connectionString, verbose, runner => runner.MigrateUp());

    public static void Down(string connectionString, long version) =>
        WithRunner(connectionString, verbose: true, runner => runner.MigrateDown(version));

    public static void List(string connectionString) =>
        WithRunner(connectionString, verbose: true, runner => runner.ListMigrations());

    private static void WithRunner(string connectionString, bool verbose, Action<IMigrationRunner> action)
    {
        // A session-level lock on an unpooled connection: closing it releases the lock, even if the process dies.
        var unpooled = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString;
        using var lockConnection = new NpgsqlConnection(unpooled);
        lockConnection.Open();
        using (var acquire = new NpgsqlCommand("SELECT pg_advisory_lock(@key)", lockConnection))
        {
            acquire.Parameters.AddWithValue("key", AdvisoryLockKey);
            acquire.ExecuteNonQuery();
        }

        using var services = new ServiceCollection()
            .AddFluentMigratorCore()
            .ConfigureRunner(runner => runner
                .AddPostgres()
                .WithGlobalConnectionString(connectionString)
                .ScanIn(typeof(Migrator).Assembly).For.Migrations())
            .AddLogging(logging => logging
                .AddFluentMigratorConsole()
                .SetMinimumLevel(verbose ? LogLevel.Information : LogLevel.Warning))
            .BuildServiceProvider(validateScopes: false);
        using var scope = services.CreateScope();
        action(scope.ServiceProvider.GetRequiredService<IMigrationRunner>());
    }
}
