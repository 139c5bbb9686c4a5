using Bogus;
using Microsoft.Extensions.Configuration;
using Npgsql;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Migrations;

/// <summary>
/// Demo data for <c>make run</c>, safe to run again: rows are keyed by email and generated from a fixed seed, so a second
/// run finds them present and adds nothing. Projects and their task DAGs come from <see cref="DemoProjects"/>.
/// </summary>
public static class DemoSeeder
{
    private const int DemoUserCount = 5;

    public static async Task SeedAsync(string connectionString, IConfiguration configuration)
    {
        var adminEmail = (configuration["Seed:AdminEmail"] ?? "admin@taskrunner.local").Trim().ToLowerInvariant();
        var password = configuration["Seed:Password"] ?? "taskrunner-demo";

        var faker = new Faker { Random = new Randomizer(20261124) };
        var users = new List<(string Email, string DisplayName, string Role)> { (adminEmail, "TaskRunner Admin", "admin") };
        for (var i = 0; i < DemoUserCount; i++)
        {
            var first = faker.Name.FirstName();
            var last = faker.Name.LastName();
            users.Add((faker.Internet.Email(first, last, "example.com").ToLowerInvariant(), $"{first} {last}",
                i == 0 ? "viewer" : "member"));
        }

        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        var inserted = 0;
        foreach (var (email, displayName, role) in users)
        {
            await using var exists = dataSource.CreateCommand("SELECT 1 FROM users WHERE email = $1");
            exists.Parameters.AddWithValue(email);
            if (await exists.ExecuteScalarAsync() is not null)
                continue;
            await using var insert = dataSource.CreateCommand("""
                INSERT INTO users (id, email, display_name, role, password_hash)
                VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (email) DO NOTHING
                """);
            insert.Parameters.AddWithValue(Guid.CreateVersion7());
            insert.Parameters.AddWithValue(email);
            insert.Parameters.AddWithValue(displayName);
            insert.Parameters.AddWithValue(role);
            insert.Parameters.AddWithValue(PasswordHasher.Hash(password));
            inserted += await insert.ExecuteNonQueryAsync();
        }
        Console.WriteLine($"demo data: {inserted} users added ({users.Count - inserted} already present); admin {adminEmail}");

        var ids = new List<Guid>();
        foreach (var (email, _, _) in users)
        {
            await using var lookup = dataSource.CreateCommand("SELECT id FROM users WHERE email = $1");
            lookup.Parameters.AddWithValue(email);
            ids.Add((Guid)(await lookup.ExecuteScalarAsync())!);
        }
        var projects = await DemoProjects.SeedAsync(dataSource, ids[0], ids[1..], faker);
        Console.WriteLine($"demo data: {projects} projects with their task DAGs added");
    }
}
