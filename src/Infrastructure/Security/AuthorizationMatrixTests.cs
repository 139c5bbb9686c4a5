using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Security;

/// <summary>Who calls in the matrix. The project roles are memberships of the project the row belongs to.</summary>
public enum MatrixActor
{
    Anonymous,
    Admin,
    Owner,
    Editor,
    Viewer,
    Outsider,
    /// <summary>Global role viewer, yet an editor of the project: global viewers never write.</summary>
    GlobalViewer,
    /// <summary>The owner's API key created with role viewer: it acts as a viewer whatever its owner may do.</summary>
    DownScopedKey,
}

/// <summary>Who may act on a route's row, and what everyone else gets.</summary>
public enum RoutePolicy
{
    /// <summary>Anyone who may read the project; outsiders get 404.</summary>
    ReadProject,
    /// <summary>Project editors, owners and admins; readers who may not write get 403, outsiders 404.</summary>
    EditProject,
    /// <summary>As <see cref="EditProject"/>, but a reader who may not edit gets 404 too (the row is looked up among editable ones).</summary>
    EditProjectElseHidden,
    /// <summary>Project owners and admins; other readers get 403, outsiders 404.</summary>
    OwnProject,
    /// <summary>Global admins only; everyone else authenticated gets 403.</summary>
    AdminOnly,
    /// <summary>
    /// The owner's own row (a session): the owner, through a session or any of its keys, down-scoped ones included (docs/security.md:
    /// any authenticated caller manages its own sessions and keys); everyone else gets 404.
    /// </summary>
    OwnersOwnSession,
    /// <summary>The owner's own row (an API key): the owner as for a session, and admins; everyone else gets 404.</summary>
    OwnersOwnKeyOrAdmin,
}

/// <summary>
/// The authorization matrix: every route of the OpenAPI document that takes an id, called by each actor on a row of a fresh
/// project, must answer the status its policy says. A route missing from <see cref="Routes"/> fails the test until someone
/// decides who may call it.
/// </summary>
public sealed class AuthorizationMatrixTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    /// <summary>What the route's <c>{id}</c> names in the fresh world, how to call it, and what an allowed caller gets.</summary>
    private sealed record RouteRule(string Row, RoutePolicy Policy, int Allowed, string? Body = null, string? Query = null);

    private static readonly Dictionary<string, RouteRule> Routes = new(StringComparer.Ordinal)
    {
        ["DELETE /api/v1/auth/sessions/{id}"] = new("session", RoutePolicy.OwnersOwnSession, 204),
        ["DELETE /api/v1/auth/api-keys/{id}"] = new("api-key", RoutePolicy.OwnersOwnKeyOrAdmin, 204),
        ["PATCH /api/v1/users/{id}"] = new("user", RoutePolicy.AdminOnly, 200, """{"disabled":true}"""),
        ["DELETE /api/v1/users/{id}"] = new("user", RoutePolicy.AdminOnly, 204),
        ["POST /api/v1/users/{id}/password-reset"] = new("user", RoutePolicy.AdminOnly, 201),
        ["GET /api/v1/projects/{id}"] = new("project", RoutePolicy.ReadProject, 200),
        ["PATCH /api/v1/projects/{id}"] = new("project", RoutePolicy.EditProject, 200, """{"name":"renamed"}"""),
        ["DELETE /api/v1/projects/{id}"] = new("project", RoutePolicy.OwnProject, 204),
        ["POST /api/v1/projects/{id}/restore"] = new("deleted-project", RoutePolicy.OwnProject, 200),
        ["GET /api/v1/projects/{id}/members"] = new("project", RoutePolicy.ReadProject, 200),
        ["POST /api/v1/projects/{id}/members"] = new("project", RoutePolicy.OwnProject, 201, """{"user_id":"{user}","role":"viewer"}"""),
        ["GET /api/v1/projects/{id}/presence"] = new("project", RoutePolicy.ReadProject, 200),
        ["DELETE /api/v1/projects/{id}/members/{userId}"] = new("project", RoutePolicy.OwnProject, 204),
        ["POST /api/v1/projects/{id}/webhook-secret"] = new("project", RoutePolicy.EditProjectElseHidden, 200),
        ["GET /api/v1/tasks/{id}"] = new("task", RoutePolicy.ReadProject, 200),
        ["PATCH /api/v1/tasks/{id}"] = new("task", RoutePolicy.EditProject, 200, """{"title":"renamed"}"""),
        ["DELETE /api/v1/tasks/{id}"] = new("task", RoutePolicy.EditProject, 204),
        ["POST /api/v1/tasks/{id}/restore"] = new("deleted-task", RoutePolicy.EditProject, 200),
        ["GET /api/v1/tasks/{id}/comments"] = new("task", RoutePolicy.ReadProject, 200),
        ["POST /api/v1/tasks/{id}/comments"] = new("task", RoutePolicy.EditProject, 201, """{"body":"a comment"}"""),
        ["DELETE /api/v1/comments/{id}"] = new("comment", RoutePolicy.OwnProject, 204),
        ["POST /api/v1/tasks/{id}/complete"] = new("task", RoutePolicy.EditProjectElseHidden, 409, """{"status":"succeeded"}"""),
        ["POST /api/v1/tasks/{id}/heartbeat"] = new("task", RoutePolicy.EditProjectElseHidden, 409, """{"lease_token":1}"""),
        ["POST /api/v1/tasks/{id}/cancel"] = new("task", RoutePolicy.EditProject, 200),
        ["POST /api/v1/tasks/{id}/pause"] = new("task", RoutePolicy.EditProject, 200),
        ["POST /api/v1/tasks/{id}/resume"] = new("task", RoutePolicy.EditProject, 409),
        ["POST /api/v1/tasks/{id}/retry"] = new("task", RoutePolicy.EditProject, 409),
        ["GET /api/v1/tasks/{id}/graph"] = new("task", RoutePolicy.ReadProject, 200),
        ["GET /api/v1/tasks/{id}/audit"] = new("task", RoutePolicy.ReadProject, 200),
        ["GET /api/v1/tasks/{id}/deliveries"] = new("task", RoutePolicy.ReadProject, 200),
        ["GET /api/v1/tasks/{id}/attempts"] = new("task", RoutePolicy.ReadProject, 200),
        ["GET /api/v1/batches/{id}"] = new("batch", RoutePolicy.ReadProject, 200),
        ["POST /api/v1/batches/{id}/cancel"] = new("batch", RoutePolicy.EditProject, 200),
        ["POST /api/v1/batches/{id}/pause"] = new("batch", RoutePolicy.EditProject, 200),
        ["POST /api/v1/batches/{id}/resume"] = new("batch", RoutePolicy.EditProject, 409),
        ["POST /api/v1/batches/{id}/retry"] = new("batch", RoutePolicy.EditProject, 409),
        ["DELETE /api/v1/concurrency-rules/{id}"] = new("concurrency-rule", RoutePolicy.AdminOnly, 204),
        ["GET /api/v1/schedules/{id}"] = new("schedule", RoutePolicy.ReadProject, 200),
        ["PATCH /api/v1/schedules/{id}"] = new("schedule", RoutePolicy.EditProject, 200, """{"enabled":false}"""),
        ["DELETE /api/v1/schedules/{id}"] = new("schedule", RoutePolicy.EditProject, 204),
        ["GET /api/v1/deliveries/{id}"] = new("delivery", RoutePolicy.ReadProject, 200),
        ["POST /api/v1/deliveries/{id}/redeliver"] = new("delivery", RoutePolicy.EditProject, 200),
        ["GET /api/v1/action-templates/{id}"] = new("action-template", RoutePolicy.ReadProject, 200),
        ["PATCH /api/v1/action-templates/{id}"] = new("action-template", RoutePolicy.EditProject, 200, """{"name":"renamed"}"""),
        ["DELETE /api/v1/action-templates/{id}"] = new("action-template", RoutePolicy.EditProject, 204),
        ["POST /api/v1/action-templates/{id}/rotate-secret"] = new("action-template", RoutePolicy.EditProject, 200),
        ["GET /api/v1/tasks/{id}/attachments"] = new("task", RoutePolicy.ReadProject, 200),
        // A JSON body: whoever may upload is told it is not multipart (415), after the authorization decision.
        ["POST /api/v1/tasks/{id}/attachments"] = new("task", RoutePolicy.EditProject, 415, "{}"),
        ["GET /api/v1/attachments/{id}/download"] = new("attachment", RoutePolicy.ReadProject, 200),
        // A text file: readers learn it has no thumbnail (404 with that reason); outsiders that it does not exist.
        ["GET /api/v1/attachments/{id}/thumbnail"] = new("attachment", RoutePolicy.ReadProject, 404),
        ["DELETE /api/v1/attachments/{id}"] = new("attachment", RoutePolicy.EditProject, 204),
        ["GET /api/v1/projects/{id}/workflows"] = new("project", RoutePolicy.ReadProject, 200),
        ["POST /api/v1/projects/{id}/workflows"] = new("project", RoutePolicy.EditProject, 201, MatrixWorkflow("matrix defined")),
        ["GET /api/v1/workflows/{id}"] = new("workflow", RoutePolicy.ReadProject, 200),
        ["DELETE /api/v1/workflows/{id}"] = new("workflow", RoutePolicy.EditProject, 204),
        ["POST /api/v1/workflows/{id}/restore"] = new("deleted-workflow", RoutePolicy.EditProject, 200),
        ["GET /api/v1/workflows/{id}/versions"] = new("workflow", RoutePolicy.ReadProject, 200),
        ["POST /api/v1/workflows/{id}/versions"] = new("workflow", RoutePolicy.EditProject, 201, MatrixWorkflow("matrix")),
        ["GET /api/v1/workflows/{id}/versions/{number}"] = new("workflow", RoutePolicy.ReadProject, 200),
        ["POST /api/v1/workflows/{id}/versions/{number}/default"] = new("workflow", RoutePolicy.EditProject, 200),
        ["GET /api/v1/workflows/{id}/diff"] = new("workflow", RoutePolicy.ReadProject, 200, Query: "?from=1&to=1"),
        ["GET /api/v1/workflows/{id}/runs"] = new("workflow", RoutePolicy.ReadProject, 200),
        ["POST /api/v1/workflows/{id}/runs"] = new("workflow", RoutePolicy.EditProject, 201, """{"params":{}}"""),
    };

    /// <summary>A one-task workflow definition in JSON named <paramref name="name"/> (another than the world's holds a new version).</summary>
    private static string MatrixWorkflow(string name) => $$"""{"name":"{{name}}","tasks":[{"key":"only","title":"changed"}]}""";

    private static int Expected(RoutePolicy policy, MatrixActor actor, int allowed)
    {
        if (actor == MatrixActor.Anonymous)
            return 401;
        return policy switch
        {
            RoutePolicy.ReadProject => actor == MatrixActor.Outsider ? 404 : allowed,
            RoutePolicy.EditProject => actor switch
            {
                MatrixActor.Admin or MatrixActor.Owner or MatrixActor.Editor => allowed,
                MatrixActor.Outsider => 404,
                _ => 403,
            },
            RoutePolicy.EditProjectElseHidden => actor is MatrixActor.Admin or MatrixActor.Owner or MatrixActor.Editor ? allowed : 404,
            RoutePolicy.OwnProject => actor switch
            {
                MatrixActor.Admin or MatrixActor.Owner => allowed,
                MatrixActor.Outsider => 404,
                _ => 403,
            },
            RoutePolicy.AdminOnly => actor == MatrixActor.Admin ? allowed : 403,
            RoutePolicy.OwnersOwnSession => actor is MatrixActor.Owner or MatrixActor.DownScopedKey ? allowed : 404,
            RoutePolicy.OwnersOwnKeyOrAdmin => actor is MatrixActor.Owner or MatrixActor.DownScopedKey or MatrixActor.Admin ? allowed : 404,
            _ => throw new ArgumentOutOfRangeException(nameof(policy)),
        };
    }

    [Fact]
    public async Task EveryRouteThatTakesAnIdIsClassified()
    {
        using var client = service.CreateClient();
        var document = await OpenApiDocument.FetchAsync(client);
        var withIds = document.Operations.Where(operation => operation.TakesAnId).Select(operation => operation.Key).ToHashSet();

        var unclassified = withIds.Where(route => !Routes.ContainsKey(route)).Order(StringComparer.Ordinal).ToList();
        var stale = Routes.Keys.Where(route => !withIds.Contains(route)).Order(StringComparer.Ordinal).ToList();
        Assert.True(unclassified.Count == 0, "routes that take an id but have no rule in AuthorizationMatrixTests.Routes (decide who may call them):\n"
            + string.Join('\n', unclassified));
        Assert.True(stale.Count == 0, "rules for routes that no longer exist:\n" + string.Join('\n', stale));
    }

    [Fact]
    [Trait(TestMode.Trait, TestMode.InProcessOnly)]
    public async Task EveryMappedRouteIsInTheOpenApiDocument()
    {
        using var client = service.CreateClient();
        var documented = (await OpenApiDocument.FetchAsync(client)).Operations.Select(operation => operation.Key).ToHashSet();
        var mapped = service.Services!.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(endpoint => endpoint.RoutePattern.RawText?.StartsWith("/api/v1/", StringComparison.Ordinal) == true)
            .SelectMany(endpoint => (endpoint.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? []).Select(method =>
                $"{method} /{string.Join('/', endpoint.RoutePattern.PathSegments.Select(Segment))}"))
            .ToHashSet();

        var undocumented = mapped.Where(route => !documented.Contains(route)).Order(StringComparer.Ordinal).ToList();
        Assert.True(undocumented.Count == 0, "mapped routes missing from /openapi/v1.json (the matrix and the fuzzer would not see them):\n"
            + string.Join('\n', undocumented));
    }

    /// <summary>A route segment as the OpenAPI document writes it: parameters without their constraints.</summary>
    private static string Segment(Microsoft.AspNetCore.Routing.Patterns.RoutePatternPathSegment segment) => string.Concat(segment.Parts.Select(part => part switch
    {
        Microsoft.AspNetCore.Routing.Patterns.RoutePatternParameterPart parameter => "{" + parameter.Name + "}",
        Microsoft.AspNetCore.Routing.Patterns.RoutePatternLiteralPart literal => literal.Content,
        _ => part.ToString(),
    }));

    [Fact]
    public async Task EveryActorGetsWhatThePolicySaysOnEveryRouteThatTakesAnId()
    {
        var actors = await ActorsAsync();
        var mismatches = new List<string>();
        foreach (var (route, rule) in Routes.OrderBy(pair => pair.Key, StringComparer.Ordinal))
        {
            foreach (var actor in Enum.GetValues<MatrixActor>())
            {
                var world = await WorldAsync(actors, rule.Row);
                var (method, template) = (route[..route.IndexOf(' ', StringComparison.Ordinal)], route[(route.IndexOf(' ', StringComparison.Ordinal) + 1)..]);
                var path = template.Replace("{id}", world.RowId.ToString(), StringComparison.Ordinal)
                    .Replace("{userId}", world.MemberId.ToString(), StringComparison.Ordinal)
                    .Replace("{number}", "1", StringComparison.Ordinal) + rule.Query;
                using var request = new HttpRequestMessage(new HttpMethod(method), path);
                if (rule.Body is { } body)
                    request.Content = TestJson.Raw(body.Replace("{user}", world.SpareUserId.ToString(), StringComparison.Ordinal));
                if (actors.Credentials.TryGetValue(actor, out var credential))
                    request.Headers.TryAddWithoutValidation(credential.Key, credential.Value);
                using var response = await actors.Client.SendAsync(request);

                var expected = Expected(rule.Policy, actor, rule.Allowed);
                if ((int)response.StatusCode != expected)
                {
                    var answer = await response.Content.ReadAsStringAsync();
                    mismatches.Add($"{route} as {actor}: expected {expected}, got {(int)response.StatusCode} {(answer.Length > 200 ? answer[..200] : answer)}");
                }
            }
        }
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} cells of the authorization matrix differ from the policy:\n" + string.Join('\n', mismatches));
    }

    private sealed record Actors(HttpClient Client, Dictionary<MatrixActor, TestAccount> Accounts, Dictionary<MatrixActor, KeyValuePair<string, string>> Credentials);

    /// <summary>The row the route's id names, a member to remove and a user to add, in a project nobody else touches.</summary>
    private sealed record World(Guid RowId, Guid MemberId, Guid SpareUserId);

    private async Task<Actors> ActorsAsync()
    {
        var client = service.CreateClient();
        var accounts = new Dictionary<MatrixActor, TestAccount>
        {
            [MatrixActor.Admin] = await service.CreateUserAsync(Roles.Admin),
            [MatrixActor.Owner] = await service.CreateUserAsync(Roles.Member),
            [MatrixActor.Editor] = await service.CreateUserAsync(Roles.Member),
            [MatrixActor.Viewer] = await service.CreateUserAsync(Roles.Member),
            [MatrixActor.Outsider] = await service.CreateUserAsync(Roles.Member),
            [MatrixActor.GlobalViewer] = await service.CreateUserAsync(Roles.Viewer),
        };
        var credentials = new Dictionary<MatrixActor, KeyValuePair<string, string>>();
        foreach (var (actor, account) in accounts)
        {
            var tokens = await client.LoginAsync(account.Email, account.Password);
            credentials[actor] = new("Authorization", new AuthenticationHeaderValue("Bearer", tokens.GetProperty("access_token").GetString()).ToString());
        }
        using var keyRequest = new HttpRequestMessage(HttpMethod.Post, "/api/v1/auth/api-keys") { Content = TestJson.Body(("name", "read only"), ("role", Roles.Viewer)) };
        keyRequest.Headers.TryAddWithoutValidation(credentials[MatrixActor.Owner].Key, credentials[MatrixActor.Owner].Value);
        using var key = await client.SendAsync(keyRequest);
        credentials[MatrixActor.DownScopedKey] = new("X-API-Key", (await key.ReadJsonAsync()).GetProperty("key").GetString()!);
        return new Actors(client, accounts, credentials);
    }

    /// <summary>
    /// A fresh project (owner, editor, viewer and the global viewer as an editor, plus a spare member) with one row of each
    /// kind, so no cell sees what another cell did. <paramref name="row"/> picks which one the route's id names.
    /// </summary>
    private async Task<World> WorldAsync(Actors actors, string row)
    {
        var owner = actors.Accounts[MatrixActor.Owner].Id;
        var ids = new Dictionary<string, Guid>(StringComparer.Ordinal);
        foreach (var kind in new[] { "project", "task", "deleted-task", "batch", "comment", "schedule", "action-template", "delivery", "concurrency-rule", "session", "api-key" })
            ids[kind] = Guid.CreateVersion7();
        ids["deleted-project"] = ids["project"];
        var spare = await service.CreateUserAsync(Roles.Member);
        await using var connection = new NpgsqlConnection(service.ConnectionString);
        await connection.OpenAsync();
        async Task Execute(string sql, params object[] values)
        {
            await using var command = new NpgsqlCommand(sql, connection);
            foreach (var value in values)
                command.Parameters.AddWithValue(value);
            await command.ExecuteNonQueryAsync();
        }

        var member = await service.CreateUserAsync(Roles.Member);
        ids["member"] = member.Id;
        ids["user"] = spare.Id;
        await Execute("INSERT INTO projects (id, name, created_by) VALUES ($1, $2, $3)", ids["project"], "matrix " + ids["project"], owner);
        await Execute("""
            INSERT INTO project_members (project_id, user_id, role)
            VALUES ($1, $2, 'owner'), ($1, $3, 'editor'), ($1, $4, 'viewer'), ($1, $5, 'editor'), ($1, $6, 'viewer')
            """, ids["project"], owner, actors.Accounts[MatrixActor.Editor].Id, actors.Accounts[MatrixActor.Viewer].Id,
            actors.Accounts[MatrixActor.GlobalViewer].Id, member.Id);
        await Execute("INSERT INTO tasks (id, project_id, title, created_by, batch_id) VALUES ($1, $2, 'matrix task', $3, $4)",
            ids["task"], ids["project"], owner, ids["batch"]);
        await Execute("INSERT INTO tasks (id, project_id, title, created_by, deleted_at) VALUES ($1, $2, 'matrix deleted task', $3, now())",
            ids["deleted-task"], ids["project"], owner);
        await Execute("INSERT INTO task_comments (id, task_id, author_id, body) VALUES ($1, $2, $3, 'by the owner')", ids["comment"], ids["task"], owner);
        // Uploaded through the API, so its bytes are in storage for the download.
        using (var upload = new HttpRequestMessage(HttpMethod.Post, $"/api/v1/tasks/{ids["task"]}/attachments")
        {
            Content = new MultipartFormDataContent { { new ByteArrayContent("matrix"u8.ToArray()), "file", "matrix.txt" } },
        })
        {
            upload.Headers.TryAddWithoutValidation(actors.Credentials[MatrixActor.Owner].Key, actors.Credentials[MatrixActor.Owner].Value);
            using var uploaded = await actors.Client.SendAsync(upload);
            ids["attachment"] = Guid.Parse((await uploaded.ReadJsonAsync()).GetProperty("id").GetString()!);
        }
        // Defined through the API (a definition is parsed and versioned); the deleted one deleted through it too.
        ids["workflow"] = await DefineWorkflowAsync(actors, ids["project"], "matrix");
        ids["deleted-workflow"] = await DefineWorkflowAsync(actors, ids["project"], "matrix deleted");
        using (var delete = new HttpRequestMessage(HttpMethod.Delete, $"/api/v1/workflows/{ids["deleted-workflow"]}"))
        {
            delete.Headers.TryAddWithoutValidation(actors.Credentials[MatrixActor.Owner].Key, actors.Credentials[MatrixActor.Owner].Value);
            using var deleted = await actors.Client.SendAsync(delete);
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        }
        await Execute("""
            INSERT INTO schedules (id, project_id, created_by, cron, timezone, task_template, enabled)
            VALUES ($1, $2, $3, '0 3 * * *', 'UTC', '{"title":"scheduled"}', false)
            """, ids["schedule"], ids["project"], owner);
        await Execute("INSERT INTO action_templates (id, project_id, name, trigger, url) VALUES ($1, $2, 'hook', 'success', 'https://hooks.example.test/a')",
            ids["action-template"], ids["project"]);
        await Execute("""
            INSERT INTO outbox (id, task_id, trigger, action, payload, status)
            VALUES ($1, $2, 'success', '{"trigger":"success","url":"https://hooks.example.test/a","method":"POST"}', '{}', 'dead')
            """, ids["delivery"], ids["task"]);
        await Execute("INSERT INTO concurrency_rules (id, concurrency_key, max_running) VALUES ($1, $2, 1)", ids["concurrency-rule"], "matrix-" + ids["concurrency-rule"]);
        await Execute("INSERT INTO sessions (id, user_id, expires_at) VALUES ($1, $2, now() + interval '1 day')", ids["session"], owner);
        await Execute("INSERT INTO api_keys (id, user_id, name, role, prefix, secret_hash) VALUES ($1, $2, 'spare', 'member', $3, $4)",
            ids["api-key"], owner, Convert.ToHexString(RandomNumberGenerator.GetBytes(6)), RandomNumberGenerator.GetBytes(32));
        if (row == "deleted-project")
        {
            await Execute("""
                WITH project AS (UPDATE projects SET deleted_at = now() WHERE id = $1)
                UPDATE tasks SET deleted_at = now() WHERE project_id = $1 AND deleted_at IS NULL
                """, ids["project"]);
        }
        return new World(ids[row], member.Id, spare.Id);
    }

    private static async Task<Guid> DefineWorkflowAsync(Actors actors, Guid project, string name)
    {
        using var define = new HttpRequestMessage(HttpMethod.Post, $"/api/v1/projects/{project}/workflows")
        {
            Content = TestJson.Raw($$"""{"name":"{{name}}","tasks":[{"key":"only","title":"only"}]}"""),
        };
        define.Headers.TryAddWithoutValidation(actors.Credentials[MatrixActor.Owner].Key, actors.Credentials[MatrixActor.Owner].Value);
        using var defined = await actors.Client.SendAsync(define);
        Assert.Equal(HttpStatusCode.Created, defined.StatusCode);
        return Guid.Parse((await defined.ReadJsonAsync()).GetProperty("id").GetString()!);
    }
}
