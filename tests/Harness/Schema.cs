extern alias migrator;

namespace TaskRunner.Tests.Harness;

/// <summary>The migrator, as tests use it: the same code `make run` and the container run.</summary>
public static class Schema
{
    public static void Up(string connectionString) => migrator::TaskRunner.Migrations.Migrator.Up(connectionString, verbose: false);

    public static void Down(string connectionString, long version) =>
        migrator::TaskRunner.Migrations.Migrator.Down(connectionString, version);
}
