using Microsoft.Extensions.Configuration;
using TaskRunner.Migrations;

// The migrator reads the same keys as the service: Database:ConnectionString (env Database__ConnectionString).
var configuration = new ConfigurationBuilder()
    .SetBasePath(AppContext.BaseDirectory)
    .AddJsonFile("appsettings.json", optional: true)
    .AddEnvironmentVariables()
    .AddCommandLine(args.Where(arg => arg.StartsWith("--", StringComparison.Ordinal)).ToArray())
    .Build();
var commands = args.Where(arg => !arg.StartsWith("--", StringComparison.Ordinal)).ToArray();
var connectionString = configuration["Database:ConnectionString"];

if (commands.Length == 0 || string.IsNullOrWhiteSpace(connectionString))
{
    Console.Error.WriteLine("""
        usage: TaskRunner.Migrations <command> [--Database:ConnectionString=...]
          up               apply every pending migration
          down <version>   revert down to <version> (0 reverts everything)
          list             show applied and pending migrations
          seed-demo        insert demo data (idempotent): the bootstrap admin and a few users
        The connection string comes from Database:ConnectionString (env Database__ConnectionString).
        """);
    return 2;
}

try
{
    switch (commands[0])
    {
        case "up":
            Migrator.Up(connectionString);
            break;
        case "down" when commands.Length == 2 && long.TryParse(commands[1], out var version):
            Migrator.Down(connectionString, version);
            break;
        case "list":
            Migrator.List(connectionString);
            break;
        case "seed-demo":
            await DemoSeeder.SeedAsync(connectionString, configuration);
            break;
        default:
            Console.Error.WriteLine($"unknown command '{string.Join(' ', commands)}'; run without arguments for usage");
            return 2;
    }
    return 0;
}
catch (Exception e)
{
    // One clear line for the operator; the runner has already logged the statement that failed.
    var root = e;
    while (root.InnerException is not null)
        root = root.InnerException;
    Console.Error.WriteLine($"migration failed: {root.GetType().Name}: {root.Message}");
    return 1;
}
