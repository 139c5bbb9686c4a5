using System.Net;
using System.Text.Json.Nodes;
using Npgsql;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Database;

/// <summary>
/// scripts/backup.sh and scripts/restore.sh, as an operator runs them: a backup taken while the service runs, restored into
/// a fresh database, serves the same tasks to the same accounts through a service started on it with the same keys.
/// </summary>
public sealed class BackupRestoreTests(ServiceFixture service) : IClassFixture<ServiceFixture>, IAsyncLifetime
{
    private readonly string backupFile = Path.Combine(Path.GetTempPath(), $"taskrunner-backup-{Guid.NewGuid():N}.dump");
    private string? restoredDatabase;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        File.Delete(backupFile);
        if (restoredDatabase is not null)
            await TestDatabases.DropAsync(restoredDatabase);
    }

    /// <summary>The scripts take a libpq connection string (what pg_dump takes); the password travels in PGPASSWORD.</summary>
    private static (string Connection, Dictionary<string, string> Environment) Libpq(string npgsqlConnectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(npgsqlConnectionString);
        var environment = new Dictionary<string, string>();
        if (builder.Password is { Length: > 0 } password)
            environment["PGPASSWORD"] = password;
        return ($"host={builder.Host} port={builder.Port} user={builder.Username} dbname={builder.Database}", environment);
    }

    private static async Task<ScriptResult> RunAsync(string script, string file, string npgsqlConnectionString, bool databaseFirst)
    {
        var (connection, environment) = Libpq(npgsqlConnectionString);
        var arguments = databaseFirst ? $"\"{connection}\" \"{file}\"" : $"\"{file}\" \"{connection}\"";
        return await Scripts.ExecuteAsync(script, arguments, environment);
    }

    private Task<ScriptResult> BackUpAsync() => RunAsync("scripts/backup.sh", backupFile, service.ConnectionString, databaseFirst: true);

    private static Task<ScriptResult> RestoreAsync(string file, string npgsqlConnectionString) =>
        RunAsync("scripts/restore.sh", file, npgsqlConnectionString, databaseFirst: false);

    private static async Task<JsonNode> ReadTaskAsync(HttpClient client, Guid id)
    {
        using var response = await client.GetAsync($"/api/v1/tasks/{id}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
    }

    [Fact]
    public async Task ARestoredBackupServesTheSameTasksToTheSameAccounts()
    {
        using var project = await service.CreateProjectAsync();
        var parent = await service.CreateTaskAsync(project, "extract");
        var child = await service.CreateTaskAsync(project, "load", parents: [parent]);
        var other = await service.CreateTaskAsync(project, "report");
        // Cancelling the parent cancels the child that required its success: the backup holds three statuses.
        using (var cancel = await project.OwnerClient.PostAsync($"/api/v1/tasks/{parent}/cancel", null))
            Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        Guid[] tasks = [parent, child, other];
        var before = new List<JsonNode>();
        foreach (var id in tasks)
            before.Add(await ReadTaskAsync(project.OwnerClient, id));

        var backup = await BackUpAsync();
        Assert.True(backup.ExitCode == 0, backup.Error);
        restoredDatabase = await TestDatabases.CreateEmptyAsync();
        var restore = await RestoreAsync(backupFile, restoredDatabase);
        Assert.True(restore.ExitCode == 0, restore.Error);
        Assert.Contains($"schema version {SchemaVersion.Expected}", restore.Output);

        await using var restored = await SecondNode.StartAsync(service, ServiceFixture.BaseSettings(restoredDatabase));
        using var client = restored.CreateClient();
        using (var ready = await client.GetAsync("/health/ready"))
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        var tokens = await client.LoginAsync(project.Owner.Email, project.Owner.Password);
        client.WithBearer(tokens.GetProperty("access_token").GetString()!);
        for (var i = 0; i < tasks.Length; i++)
            Assert.True(JsonNode.DeepEquals(before[i], await ReadTaskAsync(client, tasks[i])), $"task {tasks[i]} differs after the restore");
        Assert.Equal(new[] { "cancelled", "cancelled", "pending" }, before.Select(task => task["status"]!.GetValue<string>()));
    }

    [Fact]
    public async Task RestoreRefusesADatabaseThatAlreadyHasTables()
    {
        var backup = await BackUpAsync();
        Assert.True(backup.ExitCode == 0, backup.Error);

        var restore = await RestoreAsync(backupFile, service.ConnectionString);

        Assert.Equal(1, restore.ExitCode);
        Assert.Contains("restore into a new, empty database", restore.Error);
    }
}
