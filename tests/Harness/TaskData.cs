using System.Net.Http.Headers;
using Npgsql;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Tests.Harness;

/// <summary>A project made for a test: its id and its owner's account and client.</summary>
public sealed record TestProject(Guid Id, TestAccount Owner, HttpClient OwnerClient) : IDisposable
{
    public void Dispose() => OwnerClient.Dispose();
}

/// <summary>
/// Projects, memberships, tasks and dependency edges inserted straight into the database, so task tests do not depend on
/// the creating endpoints. Values travel as parameters.
/// </summary>
public static class TaskData
{
    /// <summary>A new member who owns a new project, with a logged-in client.</summary>
    public static async Task<TestProject> CreateProjectAsync(this ServiceFixture service)
    {
        var owner = await service.CreateUserAsync();
        var id = Guid.CreateVersion7();
        await service.ExecuteSqlAsync("INSERT INTO projects (id, name, created_by) VALUES ($1, $2, $3)", id, "project " + id, owner.Id);
        await service.AddMemberAsync(id, owner.Id, ProjectRoles.Owner);
        return new TestProject(id, owner, await service.ClientForAsync(owner));
    }

    public static Task AddMemberAsync(this ServiceFixture service, Guid projectId, Guid userId, string role) =>
        service.ExecuteSqlAsync("INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, $3)", projectId, userId, role);

    /// <summary>A new user with the given role in the project (and global role member unless said otherwise), logged in.</summary>
    public static async Task<(TestAccount Account, HttpClient Client)> MemberAsync(
        this ServiceFixture service, TestProject project, string projectRole, string globalRole = Roles.Member)
    {
        var account = await service.CreateUserAsync(globalRole);
        await service.AddMemberAsync(project.Id, account.Id, projectRole);
        return (account, await service.ClientForAsync(account));
    }

    /// <summary>A pending task in the project, depending (on success) on <paramref name="parents"/>.</summary>
    public static async Task<Guid> CreateTaskAsync(
        this ServiceFixture service, TestProject project, string title = "a task", string? dedupeKey = null, params Guid[] parents)
    {
        var id = Guid.CreateVersion7();
        await using var connection = new NpgsqlConnection(service.ConnectionString);
        await connection.OpenAsync();
        await using (var insert = new NpgsqlCommand(
            "INSERT INTO tasks (id, project_id, title, created_by, dedupe_key, pending_parents) VALUES ($1, $2, $3, $4, $5, $6)", connection))
        {
            insert.Parameters.AddWithValue(id);
            insert.Parameters.AddWithValue(project.Id);
            insert.Parameters.AddWithValue(title);
            insert.Parameters.AddWithValue(project.Owner.Id);
            insert.Parameters.AddWithValue((object?)dedupeKey ?? DBNull.Value);
            insert.Parameters.AddWithValue(parents.Length);
            await insert.ExecuteNonQueryAsync();
        }
        foreach (var parent in parents)
        {
            await using var edge = new NpgsqlCommand("INSERT INTO task_dependencies (child_id, parent_id) VALUES ($1, $2)", connection);
            edge.Parameters.AddWithValue(id);
            edge.Parameters.AddWithValue(parent);
            await edge.ExecuteNonQueryAsync();
        }
        return id;
    }

    /// <summary>Marks a task deleted as DELETE would, without going through it.</summary>
    public static Task SoftDeleteTaskAsync(this ServiceFixture service, Guid taskId) =>
        service.ExecuteSqlAsync("UPDATE tasks SET deleted_at = now() WHERE id = $1", taskId);

    /// <summary>The audit diffs (as JSON text) of an action on a resource, oldest first.</summary>
    public static Task<List<string>> AuditDiffsAsync(this ServiceFixture service, string action, string resourceId) =>
        service.QueryTextAsync(
            "SELECT coalesce(diff::text, 'null') FROM audit_log WHERE action = $1 AND resource_id = $2 ORDER BY occurred_at, id",
            action, resourceId);

    /// <summary>A request with an <c>If-Match</c> or <c>If-None-Match</c> header.</summary>
    public static HttpRequestMessage Conditional(HttpMethod method, string url, HttpContent? content = null, string? ifMatch = null, string? ifNoneMatch = null)
    {
        var request = new HttpRequestMessage(method, url) { Content = content };
        if (ifMatch is not null)
            request.Headers.IfMatch.Add(EntityTagHeaderValue.Parse(ifMatch));
        if (ifNoneMatch is not null)
            request.Headers.IfNoneMatch.Add(EntityTagHeaderValue.Parse(ifNoneMatch));
        return request;
    }
}
