extern alias migrator;

using System.Reflection;

namespace TaskRunner.Tests.Harness;

/// <summary>The migrator, as tests use it: the same code `make run` and the container run.</summary>
public static class Schema
{
    public static void Up(string connectionString) => migrator::TaskRunner.Migrations.Migrator.Up(connectionString, verbose: false);

    public static void Down(string connectionString, long version) =>
        migrator::TaskRunner.Migrations.Migrator.Down(connectionString, version);

    /// <summary>The version of the last migration before <paramref name="version"/>; numbers may skip one.</summary>
    public static long VersionBefore(long version) =>
        typeof(migrator::TaskRunner.Migrations.Migrator).Assembly.GetTypes()
            .Select(type => type.GetCustomAttribute<FluentMigrator.MigrationAttribute>()?.Version)
            .Where(migration => migration < version)
            .Max() ?? throw new InvalidOperationException($"no migration before {version}");
}
