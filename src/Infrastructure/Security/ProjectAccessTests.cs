using Npgsql;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Security;

public sealed class ProjectAccessTests
{
    private static Caller As(string role) => new(Guid.NewGuid(), role, null, null);

    [Theory]
    [InlineData("member", "owner", "owner", true)]
    [InlineData("member", "editor", "owner", false)]
    [InlineData("member", "editor", "editor", true)]
    [InlineData("member", "viewer", "editor", false)]
    [InlineData("member", "viewer", "viewer", true)]
    [InlineData("member", null, "viewer", false)]
    [InlineData("viewer", "owner", "editor", false)]
    [InlineData("viewer", "owner", "viewer", true)]
    [InlineData("admin", null, "owner", true)]
    public void MembershipAndGlobalRoleDecideTogether(string globalRole, string? membership, string required, bool allowed) =>
        Assert.Equal(allowed, ProjectAccess.Allows(As(globalRole), membership, required));

    /// <summary>The SQL form must agree with the C# form for every combination.</summary>
    [Fact]
    public async Task ThePredicateFiltersRowsExactlyAsTheRuleDecides()
    {
        var connectionString = await TestDatabases.CreateAsync();
        try
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            await using (var create = new NpgsqlCommand(
                "CREATE TEMP TABLE project_members (project_id uuid, user_id uuid, role text)", connection))
                await create.ExecuteNonQueryAsync();

            foreach (var globalRole in Roles.All)
            foreach (var membership in new string?[] { null, ProjectRoles.Owner, ProjectRoles.Editor, ProjectRoles.Viewer })
            foreach (var required in ProjectRoles.All)
            {
                var caller = As(globalRole);
                var project = Guid.NewGuid();
                if (membership is not null)
                {
                    await using var insert = new NpgsqlCommand("INSERT INTO project_members VALUES ($1, $2, $3)", connection);
                    insert.Parameters.AddWithValue(project);
                    insert.Parameters.AddWithValue(caller.UserId);
                    insert.Parameters.AddWithValue(membership);
                    await insert.ExecuteNonQueryAsync();
                }
                await using var query = new NpgsqlCommand(
                    "SELECT count(*) = 1 FROM (SELECT @project AS id) p WHERE " + ProjectAccess.OnProjectRow, connection);
                query.Parameters.AddWithValue("project", project);
                ProjectAccess.Bind(caller, required).AddTo(query.Parameters);

                var allowedBySql = (bool)(await query.ExecuteScalarAsync())!;

                Assert.True(ProjectAccess.Allows(caller, membership, required) == allowedBySql,
                    $"{globalRole} as {membership ?? "non-member"} needing {required}");
            }
        }
        finally
        {
            await TestDatabases.DropAsync(connectionString);
        }
    }
}
