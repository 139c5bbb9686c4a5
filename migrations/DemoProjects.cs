using Bogus;
using Npgsql;

namespace TaskRunner.Migrations;

/// <summary>
/// Demo projects with realistic DAGs for <c>make run</c>: a nightly ETL that finished, a release pipeline half way through
/// (one stage running, one failed with its dependants cancelled upstream), and an ML training fan-out/fan-in waiting to
/// start. Statuses and waiting counters are consistent with the edges, as the engine would have left them. A project that
/// already exists (by name) is left alone, so running the seeder again adds nothing.
/// </summary>
public static class DemoProjects
{
    private sealed record DemoTask(string Ref, string Title, string Kind, int Priority, string Status, string[] Parents, string? Require = null);

    private sealed record DemoProject(string Name, string Description, DemoTask[] Tasks);

    public static async Task<int> SeedAsync(NpgsqlDataSource dataSource, Guid ownerId, IReadOnlyList<Guid> memberIds, Faker faker)
    {
        var added = 0;
        foreach (var project in Projects(faker))
        {
            await using var connection = await dataSource.OpenConnectionAsync();
            await using var transaction = await connection.BeginTransactionAsync();
            await using (var exists = new NpgsqlCommand("SELECT 1 FROM projects WHERE name = $1 AND created_by = $2", connection, transaction))
            {
                exists.Parameters.AddWithValue(project.Name);
                exists.Parameters.AddWithValue(ownerId);
                if (await exists.ExecuteScalarAsync() is not null)
                    continue;
            }
            var projectId = Guid.CreateVersion7();
            await ExecuteAsync(connection, transaction, "INSERT INTO projects (id, name, description, created_by) VALUES ($1, $2, $3, $4)",
                projectId, project.Name, project.Description, ownerId);
            await ExecuteAsync(connection, transaction, "INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, 'owner')",
                projectId, ownerId);
            for (var i = 0; i < memberIds.Count; i++)
                await ExecuteAsync(connection, transaction,
                    "INSERT INTO project_members (project_id, user_id, role, added_by) VALUES ($1, $2, $3, $4)",
                    projectId, memberIds[i], i == 0 ? "viewer" : "editor", ownerId);

            var batchId = Guid.CreateVersion7();
            var ids = project.Tasks.ToDictionary(task => task.Ref, _ => Guid.CreateVersion7());
            var statuses = project.Tasks.ToDictionary(task => task.Ref, task => task.Status);
            foreach (var task in project.Tasks)
            {
                var require = task.Require ?? "success";
                var pending = task.Parents.Count(parent => require == "success" ? statuses[parent] != "succeeded" : !IsTerminal(statuses[parent]));
                var ended = IsTerminal(task.Status);
                await ExecuteAsync(connection, transaction, """
                    INSERT INTO tasks (id, project_id, title, description, kind, status, priority, metadata, batch_id, pending_parents,
                                       created_by, assignee_id, started_at, ended_at, cancel_reason, attempt, output, error)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11, $12,
                            CASE WHEN $13 THEN now() - interval '20 minutes' END, CASE WHEN $14 THEN now() - interval '5 minutes' END,
                            CASE WHEN $6 = 'cancelled' THEN 'upstream_failed' END, CASE WHEN $13 THEN 1 ELSE 0 END,
                            CASE WHEN $6 = 'succeeded' THEN '{"ok": true}'::jsonb END,
                            CASE WHEN $6 = 'failed' THEN 'exit code 1: integration tests failed' END)
                    """,
                    ids[task.Ref], projectId, task.Title, faker.Lorem.Sentence(12), task.Kind, task.Status, task.Priority,
                    $$"""{"owner": "{{faker.Internet.UserName()}}", "region": "{{faker.PickRandom("eu-west-1", "us-east-1")}}"}""",
                    batchId, pending, ownerId, memberIds.Count > 1 ? memberIds[faker.Random.Int(1, memberIds.Count - 1)] : ownerId,
                    task.Status is "running" || ended && task.Status != "cancelled", ended);
                foreach (var parent in task.Parents)
                    await ExecuteAsync(connection, transaction,
                        "INSERT INTO task_dependencies (child_id, parent_id, require) VALUES ($1, $2, $3)", ids[task.Ref], ids[parent], require);
            }
            await transaction.CommitAsync();
            added++;
        }
        return added;
    }

    private static bool IsTerminal(string status) => status is "succeeded" or "failed" or "cancelled" or "timed_out";

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, params object[] values)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        foreach (var value in values)
            command.Parameters.AddWithValue(value);
        await command.ExecuteNonQueryAsync();
    }

    private static IEnumerable<DemoProject> Projects(Faker faker)
    {
        var regions = new[] { "eu", "us", "apac" };
        yield return new DemoProject("Nightly ETL", "Extract, transform and load the sales warehouse every night.",
        [
            .. regions.Select(region => new DemoTask($"extract-{region}", $"Extract {region.ToUpperInvariant()} orders", "etl.extract", 60, "succeeded", [])),
            .. regions.Select(region => new DemoTask($"clean-{region}", $"Clean {region.ToUpperInvariant()} orders", "etl.transform", 50, "succeeded", [$"extract-{region}"])),
            new DemoTask("join", "Join orders with customers", "etl.transform", 50, "succeeded", [.. regions.Select(region => $"clean-{region}")]),
            new DemoTask("load", "Load the warehouse", "etl.load", 70, "succeeded", ["join"]),
            new DemoTask("report", "Publish the daily sales report", "report", 40, "succeeded", ["load"]),
            new DemoTask("cleanup", "Remove staging files", "maintenance", 10, "succeeded", ["load"], "completion"),
        ]);

        var services = new[] { "api", "worker", "web" };
        yield return new DemoProject("Release 2026.12", "Build, test and ship the December release.",
        [
            .. services.Select(service => new DemoTask($"build-{service}", $"Build {service}", "ci.build", 80, "succeeded", [])),
            .. services.Select(service => new DemoTask($"unit-{service}", $"Unit tests: {service}", "ci.test", 70, "succeeded", [$"build-{service}"])),
            new DemoTask("integration", "Integration tests", "ci.test", 70, "failed", [.. services.Select(service => $"build-{service}")]),
            new DemoTask("scan", "Security scan", "ci.scan", 60, "running", [.. services.Select(service => $"build-{service}")]),
            new DemoTask("package", "Package release artifacts", "ci.package", 60, "cancelled", ["integration", .. services.Select(service => $"unit-{service}")]),
            new DemoTask("deploy-staging", "Deploy to staging", "cd.deploy", 90, "cancelled", ["package"]),
            new DemoTask("notify", "Notify the release channel", "notify", 20, "pending", ["integration", "scan"], "completion"),
        ]);

        var folds = Enumerable.Range(1, 5).ToArray();
        yield return new DemoProject("Churn model", $"Train the churn model on {faker.Date.Month()} data with 5-fold validation.",
        [
            new DemoTask("prepare", "Prepare features", "ml.prepare", 50, "running", []),
            .. folds.Select(fold => new DemoTask($"train-{fold}", $"Train fold {fold}", "ml.train", 40, "pending", ["prepare"])),
            new DemoTask("evaluate", "Evaluate folds", "ml.evaluate", 50, "pending", [.. folds.Select(fold => $"train-{fold}")]),
            new DemoTask("publish", "Publish the model", "ml.publish", 60, "pending", ["evaluate"]),
        ]);
    }
}
