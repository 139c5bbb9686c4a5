using Npgsql;

namespace TaskRunner.Tests.Harness;

/// <summary>Projects and tasks arranged straight in the database, for tests of what is built on them.</summary>
public static class ProjectFixtures
{
    /// <summary>A new project with <paramref name="owner"/> as its owner; further members with their roles.</summary>
    public static async Task<Guid> CreateProjectAsync(this ServiceFixture service, TestAccount owner, params (TestAccount Account, string Role)[] members)
    {
        var id = Guid.CreateVersion7();
        await using var connection = new NpgsqlConnection(service.ConnectionString);
        await connection.OpenAsync();
        await using (var insert = new NpgsqlCommand("INSERT INTO projects (id, name, created_by) VALUES ($1, $2, $3)", connection))
        {
            insert.Parameters.AddWithValue(id);
            insert.Parameters.AddWithValue($"Project {id:N}");
            insert.Parameters.AddWithValue(owner.Id);
            await insert.ExecuteNonQueryAsync();
        }
        foreach (var (account, role) in members.Prepend((owner, "owner")))
        {
            await using var member = new NpgsqlCommand("INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, $3)", connection);
            member.Parameters.AddWithValue(id);
            member.Parameters.AddWithValue(account.Id);
            member.Parameters.AddWithValue(role);
            await member.ExecuteNonQueryAsync();
        }
        return id;
    }

    /// <summary>Reads one scalar, for asserting what the database holds.</summary>
    public static async Task<T> ScalarAsync<T>(this ServiceFixture service, string sql, params object[] values)
    {
        await using var connection = new NpgsqlConnection(service.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var value in values)
            command.Parameters.AddWithValue(value);
        return (T)(await command.ExecuteScalarAsync())!;
    }
}
