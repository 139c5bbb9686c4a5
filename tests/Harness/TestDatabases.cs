using Npgsql;

namespace TaskRunner.Tests.Harness;

/// <summary>
/// Real PostgreSQL for every test class: one template database is migrated once per run, and each class gets a fresh clone
/// of it (CREATE DATABASE … TEMPLATE, milliseconds). The server is the project's private cluster: TASKRUNNER_TEST_PG when
/// `make test` provides it, else `scripts/pg.sh start test` is run here.
/// </summary>
public static class TestDatabases
{
    /// <summary>One template per test process, so two runs on one cluster (two checkouts, two modes) never rebuild each other's.</summary>
    private static readonly string TemplateName = $"taskrunner_template_{Environment.ProcessId}";
    private static readonly Lazy<Task<string>> Server = new(FindServerAsync);
    private static readonly Lazy<Task> Template = new(CreateTemplateAsync);

    /// <summary>A connection string to the server's maintenance database, for creating and dropping databases.</summary>
    public static Task<string> ServerConnectionStringAsync() => Server.Value;

    /// <summary>A new, migrated, empty database; returns its connection string.</summary>
    public static async Task<string> CreateAsync()
    {
        await Template.Value;
        var name = "test_" + Guid.NewGuid().ToString("N")[..16];
        await ExecuteOnServerAsync("CREATE DATABASE " + Identifier(name) + " TEMPLATE " + Identifier(TemplateName));
        return For(await Server.Value, name);
    }

    /// <summary>A new database with no schema at all (for migrator tests).</summary>
    public static async Task<string> CreateEmptyAsync()
    {
        var name = "empty_" + Guid.NewGuid().ToString("N")[..16];
        await ExecuteOnServerAsync("CREATE DATABASE " + Identifier(name));
        return For(await Server.Value, name);
    }

    public static async Task DropAsync(string connectionString)
    {
        var name = new NpgsqlConnectionStringBuilder(connectionString).Database!;
        NpgsqlConnection.ClearAllPools();
        await ExecuteOnServerAsync("DROP DATABASE IF EXISTS " + Identifier(name) + " WITH (FORCE)");
    }

    private static string For(string server, string database) =>
        new NpgsqlConnectionStringBuilder(server) { Database = database }.ConnectionString;

    /// <summary>
    /// Database names cannot be parameters, so they are checked against what this harness generates (lower-case
    /// letters, digits, underscores) and quoted; anything else is refused rather than put into SQL.
    /// </summary>
    private static string Identifier(string name) =>
        System.Text.RegularExpressions.Regex.IsMatch(name, "^[a-z][a-z0-9_]{0,62}$")
            ? "\"" + name + "\""
            : throw new ArgumentException($"not a test database name: {name}", nameof(name));

    private static async Task<bool> DatabaseExistsAsync(string name)
    {
        await using var connection = new NpgsqlConnection(await Server.Value);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", connection);
        command.Parameters.AddWithValue(name);
        return (bool)(await command.ExecuteScalarAsync())!;
    }

    private static async Task ExecuteOnServerAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(await Server.Value);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task CreateTemplateAsync()
    {
        var server = await Server.Value;
        // A template left by an earlier process with the same id must stop being one before it can be dropped.
        if (await DatabaseExistsAsync(TemplateName))
            await ExecuteOnServerAsync("ALTER DATABASE " + Identifier(TemplateName) + " WITH IS_TEMPLATE false");
        await ExecuteOnServerAsync("DROP DATABASE IF EXISTS " + Identifier(TemplateName) + " WITH (FORCE)");
        await ExecuteOnServerAsync("CREATE DATABASE " + Identifier(TemplateName));
        var template = For(server, TemplateName);
        Schema.Up(template);
        NpgsqlConnection.ClearAllPools();
        // No one may connect to the template any more, or cloning it would fail with "being accessed by other users".
        await ExecuteOnServerAsync("ALTER DATABASE " + Identifier(TemplateName) + " WITH IS_TEMPLATE true ALLOW_CONNECTIONS false");
        AppDomain.CurrentDomain.ProcessExit += (_, _) => DropTemplate(server);
    }

    /// <summary>Best effort at process exit: a template left behind by a killed run is harmless, only space.</summary>
    private static void DropTemplate(string server)
    {
        try
        {
            NpgsqlConnection.ClearAllPools();
            using var connection = new NpgsqlConnection(server);
            connection.Open();
            using var unmark = new NpgsqlCommand("ALTER DATABASE " + Identifier(TemplateName) + " WITH IS_TEMPLATE false", connection);
            unmark.ExecuteNonQuery();
            using var drop = new NpgsqlCommand("DROP DATABASE IF EXISTS " + Identifier(TemplateName) + " WITH (FORCE)", connection);
            drop.ExecuteNonQuery();
        }
        catch (NpgsqlException)
        {
        }
    }

    private static async Task<string> FindServerAsync()
    {
        if (Environment.GetEnvironmentVariable("TASKRUNNER_TEST_PG") is { Length: > 0 } configured)
            return configured;
        await Scripts.RunAsync("pg.sh", "start test");
        return (await Scripts.RunAsync("pg.sh", "connstr postgres test")).Trim();
    }
}
