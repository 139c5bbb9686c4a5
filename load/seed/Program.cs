using System.Diagnostics;
using Bogus;
using Npgsql;
using NpgsqlTypes;

// Fills a migrated, empty TaskRunner database with a large realistic data set, fast: users, projects and members, then
// tasks and their DAG edges streamed through binary COPY. Deterministic for a given --seed.
//
//   dotnet run --project load/seed -c Release -- --connection "Host=...;Database=..." [--tasks 1000000] [--projects 40]
//       [--users 200] [--seed 20261129]
//
// Every user's password is "seed-password". The first user is an admin; everybody else is a member of some projects.
var options = SeedOptions.Parse(args);
if (options is null)
{
    Console.Error.WriteLine("usage: TaskRunner.Seed --connection <connection string> [--tasks N] [--projects N] [--users N] [--seed N]");
    return 2;
}

var clock = Stopwatch.StartNew();
await using var dataSource = NpgsqlDataSource.Create(options.Connection);
var seeder = new Seeder(dataSource, options);
await seeder.RunAsync();
Console.WriteLine($"seeded {options.Tasks:N0} tasks in {options.Projects} projects for {options.Users} users in {clock.Elapsed.TotalSeconds:F1} s");
return 0;

internal sealed record SeedOptions(string Connection, int Tasks, int Projects, int Users, int Seed)
{
    public static SeedOptions? Parse(string[] args)
    {
        string? connection = null;
        int tasks = 1_000_000, projects = 40, users = 200, seed = 20261129;
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--connection": connection = args[i + 1]; break;
                case "--tasks" when int.TryParse(args[i + 1], out var n) && n > 0: tasks = n; break;
                case "--projects" when int.TryParse(args[i + 1], out var n) && n > 0: projects = n; break;
                case "--users" when int.TryParse(args[i + 1], out var n) && n > 1: users = n; break;
                case "--seed" when int.TryParse(args[i + 1], out var n): seed = n; break;
                default: return null;
            }
        }
        return connection is null ? null : new SeedOptions(connection, tasks, projects, users, seed);
    }
}

internal sealed class Seeder(NpgsqlDataSource dataSource, SeedOptions options)
{
    // PBKDF2 of "seed-password" in the service's format would take 600k iterations per user; one precomputed hash is
    // shared (the login path still verifies it normally).
    private const string PasswordHash = "pbkdf2-sha256$600000$c2VlZC1zYWx0LTAxMjM0NQ$seed-hash-not-for-login";

    private static readonly string[] Kinds =
        ["etl.extract", "etl.transform", "etl.load", "ci.build", "ci.test", "cd.deploy", "ml.train", "ml.evaluate", "report", "notify", "maintenance"];

    private static readonly string[] Verbs =
        ["Extract", "Transform", "Load", "Build", "Test", "Deploy", "Train", "Evaluate", "Publish", "Notify", "Archive", "Index", "Resize", "Backfill", "Reconcile", "Export"];

    private readonly Faker faker = new() { Random = new Randomizer(options.Seed) };

    public async Task RunAsync()
    {
        var users = await SeedUsersAsync();
        var projects = await SeedProjectsAsync(users);
        var phase = Stopwatch.StartNew();
        var indexes = await SuspendTaskIndexesAndTriggersAsync();
        Console.WriteLine($"  dropped {indexes.Count} secondary indexes and paused triggers ({phase.Elapsed.TotalSeconds:F1} s)");
        phase.Restart();
        await SeedTasksAsync(users, projects);
        Console.WriteLine($"  COPY of tasks and edges: {phase.Elapsed.TotalSeconds:F1} s");
        phase.Restart();
        await RestoreTaskIndexesAndTriggersAsync(indexes);
        Console.WriteLine($"  indexes rebuilt, title vocabulary filled: {phase.Elapsed.TotalSeconds:F1} s");
        phase.Restart();
        // VACUUM rather than ANALYZE alone: it also sets the visibility map, so index-only scans (suggest) skip the heap.
        await using var vacuum = dataSource.CreateCommand("VACUUM (ANALYZE)");
        vacuum.CommandTimeout = 0;
        await vacuum.ExecuteNonQueryAsync();
        Console.WriteLine($"  VACUUM (ANALYZE): {phase.Elapsed.TotalSeconds:F1} s");
    }

    private const string SecondaryIndexesSql = """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        WHERE i.indrelid IN ('tasks'::regclass, 'task_dependencies'::regclass)
          AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        """;

    /// <summary>
    /// Maintaining a dozen secondary indexes row by row makes a 1M-row COPY several times slower than building them once
    /// afterwards; the same goes for the statement trigger that collects title words (one 1M-row transition table).
    /// Primary keys and constraints stay (the foreign keys need them). Returns the definitions to rebuild.
    /// </summary>
    private async Task<List<string>> SuspendTaskIndexesAndTriggersAsync()
    {
        var definitions = new List<(string Name, string Definition)>();
        await using var connection = await dataSource.OpenConnectionAsync();
        await using (var list = new NpgsqlCommand(SecondaryIndexesSql, connection))
        await using (var reader = await list.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
                definitions.Add((reader.GetString(0), reader.GetString(1)));
        }
        foreach (var (name, _) in definitions)
        {
            await using var drop = new NpgsqlCommand($"DROP INDEX {name}", connection);
            await drop.ExecuteNonQueryAsync();
        }
        // USER triggers only: the foreign-key checks are system triggers and stay on.
        await using var disable = new NpgsqlCommand("ALTER TABLE tasks DISABLE TRIGGER USER", connection);
        await disable.ExecuteNonQueryAsync();
        return [.. definitions.Select(index => index.Definition)];
    }

    /// <summary>Rebuilds the dropped indexes two at a time (each with a generous maintenance_work_mem), then re-enables the triggers.</summary>
    private async Task RestoreTaskIndexesAndTriggersAsync(List<string> definitions)
    {
        var queue = new System.Collections.Concurrent.ConcurrentQueue<string>(
            definitions.OrderByDescending(definition => definition.Contains("USING gin", StringComparison.Ordinal)));
        async Task BuildAsync()
        {
            await using var connection = await dataSource.OpenConnectionAsync();
            await using (var memory = new NpgsqlCommand("SET maintenance_work_mem = '512MB'", connection))
                await memory.ExecuteNonQueryAsync();
            while (queue.TryDequeue(out var definition))
            {
                await using var create = new NpgsqlCommand(definition, connection) { CommandTimeout = 0 };
                await create.ExecuteNonQueryAsync();
            }
        }
        await Task.WhenAll(BuildAsync(), BuildAsync(), VocabularyAsync());

        await using var enable = dataSource.CreateCommand("ALTER TABLE tasks ENABLE TRIGGER USER");
        await enable.ExecuteNonQueryAsync();
    }

    /// <summary>What the paused trigger would have collected: the words of all titles (migration 8's task_title_terms).</summary>
    private async Task VocabularyAsync()
    {
        await using var fill = dataSource.CreateCommand("""
            DO $$
            BEGIN
                IF to_regclass('task_title_terms') IS NOT NULL THEN
                    INSERT INTO task_title_terms (term)
                    SELECT DISTINCT word FROM tasks, regexp_split_to_table(lower(title), '[^[:alpha:]]+') AS word
                    WHERE length(word) BETWEEN 3 AND 40
                    ON CONFLICT DO NOTHING;
                END IF;
            END
            $$
            """);
        fill.CommandTimeout = 0;
        await fill.ExecuteNonQueryAsync();
    }

    private async Task<Guid[]> SeedUsersAsync()
    {
        var ids = new Guid[options.Users];
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var writer = await connection.BeginBinaryImportAsync(
            "COPY users (id, email, display_name, role, password_hash) FROM STDIN (FORMAT BINARY)");
        for (var i = 0; i < ids.Length; i++)
        {
            ids[i] = Guid.CreateVersion7();
            var first = faker.Name.FirstName();
            var last = faker.Name.LastName();
            await writer.StartRowAsync();
            await writer.WriteAsync(ids[i], NpgsqlDbType.Uuid);
            await writer.WriteAsync($"seed{i}.{first}.{last}@example.com".ToLowerInvariant(), NpgsqlDbType.Text);
            await writer.WriteAsync($"{first} {last}", NpgsqlDbType.Text);
            await writer.WriteAsync(i == 0 ? "admin" : i % 10 == 0 ? "viewer" : "member", NpgsqlDbType.Text);
            await writer.WriteAsync(PasswordHash, NpgsqlDbType.Text);
        }
        await writer.CompleteAsync();
        return ids;
    }

    private async Task<Guid[]> SeedProjectsAsync(Guid[] users)
    {
        var ids = new Guid[options.Projects];
        await using var connection = await dataSource.OpenConnectionAsync();
        await using (var writer = await connection.BeginBinaryImportAsync(
            "COPY projects (id, name, description, created_by) FROM STDIN (FORMAT BINARY)"))
        {
            for (var i = 0; i < ids.Length; i++)
            {
                ids[i] = Guid.CreateVersion7();
                await writer.StartRowAsync();
                await writer.WriteAsync(ids[i], NpgsqlDbType.Uuid);
                await writer.WriteAsync($"{faker.Company.CompanyName()} {faker.Commerce.Department()} {i}", NpgsqlDbType.Text);
                await writer.WriteAsync(faker.Company.CatchPhrase(), NpgsqlDbType.Text);
                await writer.WriteAsync(users[i % users.Length], NpgsqlDbType.Uuid);
            }
            await writer.CompleteAsync();
        }
        // Each project: its creator as owner and ~10 % of the users as editors or viewers.
        await using var members = await connection.BeginBinaryImportAsync(
            "COPY project_members (project_id, user_id, role) FROM STDIN (FORMAT BINARY)");
        for (var p = 0; p < ids.Length; p++)
        {
            var owner = p % users.Length;
            foreach (var u in Enumerable.Range(0, users.Length).Where(u => u == owner || (u * 7 + p) % 10 == 0))
            {
                await members.StartRowAsync();
                await members.WriteAsync(ids[p], NpgsqlDbType.Uuid);
                await members.WriteAsync(users[u], NpgsqlDbType.Uuid);
                await members.WriteAsync(u == owner ? "owner" : u % 3 == 0 ? "viewer" : "editor", NpgsqlDbType.Text);
            }
        }
        await members.CompleteAsync();
        return ids;
    }

    /// <summary>
    /// Tasks in creation order over the last 180 days; batches of 20–200 tasks form DAGs whose edges point to earlier tasks of
    /// the same batch. Old batches have finished; recent ones are running or waiting, with counters consistent with the edges.
    /// </summary>
    private async Task SeedTasksAsync(Guid[] users, Guid[] projects)
    {
        var total = options.Tasks;
        var start = DateTime.UtcNow.AddDays(-180);
        var step = TimeSpan.FromDays(180).Ticks / total;
        var words = Enumerable.Range(0, 2000).Select(_ => faker.Lorem.Word()).Distinct().ToArray();
        var nouns = Enumerable.Range(0, 500).Select(_ => faker.Commerce.ProductName()).Distinct().ToArray();

        // Two task streams on two connections, batches alternating between them: the server computes each row's generated
        // search vector, and two backends do that on two cores. Edges stream on a third connection.
        await using var taskConnections = new ConnectionPair(
            await OpenBulkConnectionAsync(), await OpenBulkConnectionAsync());
        await using var edgeConnection = await OpenBulkConnectionAsync();
        const string copyTasks = """
            COPY tasks (id, project_id, title, description, kind, status, priority, metadata, timeout_seconds, scheduled_at, max_retries,
                        attempt, concurrency_key, batch_id, assignee_id, output, error, cancel_reason, pending_parents, created_by,
                        created_at, updated_at, started_at, ended_at, deleted_at)
            FROM STDIN (FORMAT BINARY)
            """;
        await using var tasksEven = await taskConnections.First.BeginBinaryImportAsync(copyTasks);
        await using var tasksOdd = await taskConnections.Second.BeginBinaryImportAsync(copyTasks);
        await using var edges = await edgeConnection.BeginBinaryImportAsync(
            "COPY task_dependencies (child_id, parent_id, require) FROM STDIN (FORMAT BINARY)");
        var batchNumber = 0;

        var random = faker.Random;
        var batchIds = new List<Guid>();
        var batchStatuses = new List<string>();
        var index = 0;
        while (index < total)
        {
            var size = Math.Min(random.Int(20, 200), total - index);
            var project = projects[random.Int(0, projects.Length - 1)];
            var batchId = Guid.CreateVersion7();
            var tasks = batchNumber++ % 2 == 0 ? tasksEven : tasksOdd;
            var age = (double)index / total;
            batchIds.Clear();
            batchStatuses.Clear();
            for (var b = 0; b < size; b++, index++)
            {
                var createdAt = start.AddTicks(step * index);
                var id = Guid.CreateVersion7(createdAt);
                var parents = b == 0 ? 0 : random.Int(0, Math.Min(3, b));
                var parentIndexes = Enumerable.Range(0, parents).Select(_ => random.Int(Math.Max(0, b - 30), b - 1)).Distinct().ToArray();
                var status = OwnStatus(random, age);
                var pendingParents = parentIndexes.Count(p => batchStatuses[p] != "succeeded");
                if (parentIndexes.Any(p => batchStatuses[p] is "failed" or "cancelled" or "timed_out"))
                    status = "cancelled";
                else if (pendingParents > 0 && status is not ("pending" or "paused"))
                    status = "pending";
                var terminal = status is "succeeded" or "failed" or "cancelled" or "timed_out";
                var started = status is "running" || terminal && status != "cancelled";
                var verb = Verbs[random.Int(0, Verbs.Length - 1)];
                var noun = nouns[random.Int(0, nouns.Length - 1)];

                await tasks.StartRowAsync();
                await tasks.WriteAsync(id, NpgsqlDbType.Uuid);
                await tasks.WriteAsync(project, NpgsqlDbType.Uuid);
                await tasks.WriteAsync($"{verb} {noun} {words[random.Int(0, words.Length - 1)]}", NpgsqlDbType.Text);
                await tasks.WriteAsync(string.Join(' ', Enumerable.Range(0, random.Int(8, 30)).Select(_ => words[random.Int(0, words.Length - 1)])),
                    NpgsqlDbType.Text);
                await tasks.WriteAsync(Kinds[random.Int(0, Kinds.Length - 1)], NpgsqlDbType.Text);
                await tasks.WriteAsync(status, NpgsqlDbType.Text);
                await tasks.WriteAsync((short)random.Int(0, 100), NpgsqlDbType.Smallint);
                await tasks.WriteAsync($$"""{"team": "{{words[index % 50]}}", "run": {{index % 1000}}}""", NpgsqlDbType.Jsonb);
                await WriteValueOrNullAsync(tasks, random.Bool(0.3f) ? random.Int(60, 7200) : (int?)null, NpgsqlDbType.Integer);
                await WriteValueOrNullAsync(tasks, status == "pending" && random.Bool(0.2f) ? DateTime.UtcNow.AddHours(random.Int(1, 48)) : (DateTime?)null,
                    NpgsqlDbType.TimestampTz);
                await tasks.WriteAsync(random.Int(0, 3), NpgsqlDbType.Integer);
                await tasks.WriteAsync(started ? 1 : 0, NpgsqlDbType.Integer);
                await WriteTextOrNullAsync(tasks, random.Bool(0.2f) ? $"{verb.ToLowerInvariant()}-pool-{random.Int(1, 5)}" : null, NpgsqlDbType.Text);
                await tasks.WriteAsync(batchId, NpgsqlDbType.Uuid);
                await WriteValueOrNullAsync(tasks, random.Bool(0.4f) ? users[random.Int(0, users.Length - 1)] : (Guid?)null, NpgsqlDbType.Uuid);
                await WriteTextOrNullAsync(tasks, status == "succeeded" ? $$"""{"rows": {{random.Int(0, 100000)}}}""" : null, NpgsqlDbType.Jsonb);
                await WriteTextOrNullAsync(tasks, status is "failed" or "timed_out" ? "exit code 1" : null, NpgsqlDbType.Text);
                await WriteTextOrNullAsync(tasks, status == "cancelled" ? "upstream_failed" : null, NpgsqlDbType.Text);
                await tasks.WriteAsync(pendingParents, NpgsqlDbType.Integer);
                await tasks.WriteAsync(users[random.Int(0, users.Length - 1)], NpgsqlDbType.Uuid);
                await tasks.WriteAsync(createdAt, NpgsqlDbType.TimestampTz);
                await tasks.WriteAsync(terminal ? createdAt.AddMinutes(5) : createdAt, NpgsqlDbType.TimestampTz);
                await WriteValueOrNullAsync(tasks, started ? createdAt.AddMinutes(1) : (DateTime?)null, NpgsqlDbType.TimestampTz);
                await WriteValueOrNullAsync(tasks, terminal ? createdAt.AddMinutes(5) : (DateTime?)null, NpgsqlDbType.TimestampTz);
                await WriteValueOrNullAsync(tasks, random.Bool(0.01f) ? createdAt.AddDays(1) : (DateTime?)null, NpgsqlDbType.TimestampTz);

                foreach (var parent in parentIndexes)
                {
                    await edges.StartRowAsync();
                    await edges.WriteAsync(id, NpgsqlDbType.Uuid);
                    await edges.WriteAsync(batchIds[parent], NpgsqlDbType.Uuid);
                    await edges.WriteAsync("success", NpgsqlDbType.Text);
                }
                batchIds.Add(id);
                batchStatuses.Add(status);
            }
        }
        // The server finishes the statements (foreign-key checks, generated columns) after the last row: no client timeout.
        tasksEven.Timeout = TimeSpan.Zero;
        tasksOdd.Timeout = TimeSpan.Zero;
        edges.Timeout = TimeSpan.Zero;
        await Task.WhenAll(tasksEven.CompleteAsync().AsTask(), tasksOdd.CompleteAsync().AsTask());
        await edges.CompleteAsync();
    }

    /// <summary>
    /// A connection for a bulk COPY. As a superuser, <c>session_replication_role = replica</c> skips the foreign-key
    /// triggers (the generator only writes ids it created, as pg_restore --disable-triggers trusts its dump); without the
    /// privilege the checks simply run.
    /// </summary>
    private async Task<NpgsqlConnection> OpenBulkConnectionAsync()
    {
        var connection = await dataSource.OpenConnectionAsync();
        await using var superuser = new NpgsqlCommand("SELECT rolsuper FROM pg_roles WHERE rolname = current_user", connection);
        if (await superuser.ExecuteScalarAsync() is true)
        {
            await using var replica = new NpgsqlCommand("SET session_replication_role = replica", connection);
            await replica.ExecuteNonQueryAsync();
        }
        return connection;
    }

    private sealed record ConnectionPair(NpgsqlConnection First, NpgsqlConnection Second) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await First.DisposeAsync();
            await Second.DisposeAsync();
        }
    }

    /// <summary>Old work has finished (mostly well); the last few percent is still running or waiting.</summary>
    private static string OwnStatus(Randomizer random, double age)
    {
        if (age < 0.97)
            return random.Int(0, 99) switch { < 90 => "succeeded", < 95 => "failed", < 97 => "timed_out", _ => "cancelled" };
        return random.Int(0, 99) switch { < 60 => "pending", < 75 => "running", < 80 => "paused", _ => "succeeded" };
    }

    private static Task WriteValueOrNullAsync<T>(NpgsqlBinaryImporter writer, T? value, NpgsqlDbType type) where T : struct =>
        value is { } present ? writer.WriteAsync(present, type) : writer.WriteNullAsync();

    private static Task WriteTextOrNullAsync(NpgsqlBinaryImporter writer, string? value, NpgsqlDbType type) =>
        value is not null ? writer.WriteAsync(value, type) : writer.WriteNullAsync();
}
