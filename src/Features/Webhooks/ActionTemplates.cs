using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Features.Tasks;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Webhooks;

public sealed record CreateActionTemplateRequest(
    [property: ApiRequired] Guid? ProjectId, [property: ApiRequired] string? Name, [property: ApiRequired] string? Trigger, [property: ApiRequired] string? Url, string? Method, Dictionary<string, string>? Headers);

/// <summary>A PATCH: fields present are changed. The trigger is fixed (tasks copied it). Any change re-enables a template a 410 disabled.</summary>
public sealed record UpdateActionTemplateRequest(string? Name, string? Url, string? Method, Dictionary<string, string>? Headers);

/// <summary>A template as reads show it: never its secret, and its header values redacted (<see cref="ActionHeaders"/>).</summary>
public sealed record ActionTemplateResponse(
    Guid Id, Guid ProjectId, string Name, string Trigger, string Url, string Method, RawJson Headers, DateTime? DisabledAt,
    string? DisabledReason, DateTime CreatedAt, DateTime UpdatedAt);

/// <summary>A created template with its signing secret, shown this once.</summary>
public sealed record CreatedActionTemplateResponse(ActionTemplateResponse Template, string Secret);

public sealed record ActionTemplateRow(
    Guid Id, Guid ProjectId, string Name, string Trigger, string Url, string Method, string Headers, DateTime? DisabledAt,
    string? DisabledReason, DateTime CreatedAt, DateTime UpdatedAt)
{
    public ActionTemplateResponse ToResponse() =>
        new(Id, ProjectId, Name, Trigger, Url, Method, ActionHeaders.RedactHeaders(Headers), DisabledAt, DisabledReason, CreatedAt, UpdatedAt);
}

public sealed record ListActionTemplatesQuery : IListQuery
{
    [FromQuery(Name = "project_id")] public string? ProjectId { get; init; }
    [FromQuery(Name = "sort")] public string? Sort { get; init; }
    [FromQuery(Name = "fields")] public string? Fields { get; init; }
    [FromQuery(Name = "cursor")] public string? Cursor { get; init; }
    [FromQuery(Name = "limit")] public string? Limit { get; init; }
}

/// <summary>
/// /action-templates: named actions of a project, referenced by its tasks as <c>{"template_id": "…"}</c>. Project viewers
/// read them; editors create, change, delete and rotate their secrets. A template the caller may not read is a 404.
/// </summary>
public static class ActionTemplates
{
    private const string Columns = """
        a.id, a.project_id, a.name, a.trigger, a.url, a.method, a.headers::text AS headers, a.disabled_at, a.disabled_reason,
        a.created_at, a.updated_at
        """;

    private const string SelectSql = "SELECT " + Columns + """

        FROM action_templates a
        JOIN projects p ON p.id = a.project_id AND p.deleted_at IS NULL AND a.deleted_at IS NULL
        """;

    private const string OneSql = SelectSql + "\nWHERE a.id = @id AND " + ProjectAccess.OnProjectRow;

    private const string LockSql = OneSql + "\nFOR UPDATE OF a";

    /// <summary>
    /// The row as this transaction wrote it, for the response: read after commit, a project or template deleted meanwhile
    /// would leave nothing to answer with.
    /// </summary>
    private const string WrittenSql = "SELECT " + Columns + "\nFROM action_templates a WHERE a.id = @id";

    private const string InsertSql = """
        INSERT INTO action_templates (id, project_id, name, trigger, url, method, headers, created_by)
        VALUES (@id, @projectId, @name, @trigger, @url, @method, @headers::jsonb, @createdBy)
        """;

    private const string UpdateSql = """
        UPDATE action_templates
        SET name = coalesce(@name, name), url = coalesce(@url, url), method = coalesce(@method, method),
            headers = coalesce(@headers::jsonb, headers), disabled_at = NULL, disabled_reason = NULL, updated_at = now()
        WHERE id = @id
        """;

    private const string DeleteSql = "UPDATE action_templates SET deleted_at = now(), updated_at = now() WHERE id = @id";

    private const string NameTaken = "action_templates_name_idx";

    public static readonly ListDefinition<ActionTemplateRow, ActionTemplateResponse> Definition = new(
        new SortKeys<ActionTemplateRow>("a.id", row => row.Id)
            .Timestamp("created_at", "a.created_at", row => row.CreatedAt)
            .Text("name", "a.name", row => row.Name)
            .DefaultSort("-created_at"),
        new ResponseFields<ActionTemplateResponse>(AppJsonContext.Default.ActionTemplateResponse));

    private static void Validate(ValidationErrors errors, string? name, bool nameRequired, string? url, bool urlRequired, string? method,
        Dictionary<string, string>? headers, DestinationPolicy destinations)
    {
        if (nameRequired || name is not null)
            errors.RequireLength("name", name?.Trim(), 1, 200);
        // A PATCH without url still has its method and headers checked; the stored URL was checked when it was written.
        if (urlRequired || url is not null)
            TaskRules.ActionUrl(errors, "", url, destinations);
        TaskRules.ActionMethodAndHeaders(errors, "", method, headers);
    }

    private static string HeadersJson(Dictionary<string, string> headers) =>
        System.Text.Json.JsonSerializer.Serialize(headers, AppJsonContext.Default.DictionaryStringString);

    public static async Task<Results<Created<CreatedActionTemplateResponse>, ProblemHttpResult>> Create(
        CreateActionTemplateRequest request, Caller caller, NpgsqlDataSource dataSource, IOptions<TasksOptions> tasks,
        WebhookSecretVault vault, IOptions<WebhooksOptions> options, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        if (request.ProjectId is null)
            errors.Add("project_id", "is required");
        if (request.Trigger is null || !TaskRules.Triggers.Contains(request.Trigger))
            errors.Add("trigger", "must be one of " + string.Join(", ", TaskRules.Triggers));
        Validate(errors, request.Name, true, request.Url, true, request.Method, request.Headers, tasks.Value.ActionDestinations());
        if (!errors.IsEmpty)
            return errors.ToProblem();

        var access = ProjectAccess.Bind(caller, ProjectRoles.Editor);
        var id = Ids.New();
        CreatedActionTemplateResponse? created;
        try
        {
            created = await dataSource.InTransactionAsync(async (connection, transaction) =>
            {
                var projectId = request.ProjectId!.Value;
                if (!await connection.ExecuteScalarAsync<bool>(ProjectAccess.LiveProjectReadableSql, access.On(projectId, cancellationToken), transaction))
                    return null;
                await connection.ExecuteAsync(InsertSql, new
                {
                    id, projectId, name = request.Name!.Trim(), trigger = request.Trigger, url = request.Url, method = request.Method ?? "POST",
                    headers = HeadersJson(request.Headers ?? []), createdBy = caller.UserId, cancellationToken,
                }, transaction);
                var secret = await WebhookSecrets.RotateAsync(connection, transaction, id, null, vault, options.Value.SecretGraceHours, cancellationToken);
                var row = await connection.QuerySingleAsync<ActionTemplateRow>(WrittenSql, new { id, cancellationToken }, transaction);
                return new CreatedActionTemplateResponse(row.ToResponse(), secret.Secret);
            }, cancellationToken);
            if (created is null)
                return Problems.NotFound("No such project, or you are not one of its editors.");
        }
        catch (PostgresException e) when (PgErrors.IsUniqueViolation(e, NameTaken))
        {
            return Problems.Conflict("The project already has an action template with this name.");
        }
        return TypedResults.Created($"/api/v1/action-templates/{id}", created);
    }

    public static async Task<Results<ResourceResult<ActionTemplateResponse>, ProblemHttpResult>> Get(
        Guid id, [FromQuery(Name = "fields")] string? fields, Caller caller, NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var selection = Definition.Fields.Parse(fields, errors);
        if (selection is null)
            return errors.ToQueryProblem();
        return await ReadAsync(dataSource, id, caller, cancellationToken) is { } row
            ? selection.Ok(row.ToResponse())
            : Problems.NotFound("No such action template.");
    }

    public static async Task<Results<ListResult<ActionTemplateResponse>, ProblemHttpResult>> List(
        [AsParameters] ListActionTemplatesQuery query, Caller caller, NpgsqlDataSource dataSource, ListPaging paging, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var projectId = QueryParameters.Id(query.ProjectId, "project_id", errors);
        var page = paging.Parse(query, Definition, new CursorBinding("action-templates").With("project_id", projectId?.ToString()), errors);
        if (page is null)
            return errors.ToQueryProblem();

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        var filtered = new FilteredQuery(command).Where(ProjectAccess.OnProjectRow, ProjectAccess.Bind(caller, ProjectRoles.Viewer));
        if (projectId is { } project)
            filtered.Where("a.project_id = @projectId", "projectId", project);
        var rows = await filtered.ReadPageAsync(SelectSql, page.Keyset, Read, cancellationToken);
        return page.Result(rows, row => row.ToResponse());
    }

    private static ActionTemplateRow Read(NamedRow row) => new(
        row.Get<Guid>("id"), row.Get<Guid>("project_id"), row.Get<string>("name"), row.Get<string>("trigger"), row.Get<string>("url"),
        row.Get<string>("method"), row.Get<string>("headers"), row.Get<DateTime?>("disabled_at"), row.GetOrNull<string>("disabled_reason"),
        row.Get<DateTime>("created_at"), row.Get<DateTime>("updated_at"));

    public static async Task<Results<Ok<ActionTemplateResponse>, ProblemHttpResult>> Update(
        Guid id, UpdateActionTemplateRequest request, Caller caller, NpgsqlDataSource dataSource, IOptions<TasksOptions> tasks,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        Validate(errors, request.Name, false, request.Url, false, request.Method, request.Headers, tasks.Value.ActionDestinations());
        if (!errors.IsEmpty)
            return errors.ToProblem();
        ActionTemplateRow? updated = null;
        try
        {
            var problem = await WriteAsync(dataSource, id, caller, async (connection, transaction, stored) =>
            {
                var restored = new ValidationErrors();
                var headers = request.Headers is null ? null
                    : ActionHeaders.KeepRedactedHeaders(HeadersJson(request.Headers), request.Url ?? stored.Url, stored.Headers, stored.Url, restored);
                if (!restored.IsEmpty)
                    return restored.ToProblem();
                await connection.ExecuteAsync(UpdateSql, new
                {
                    id, name = request.Name?.Trim(), url = request.Url, method = request.Method, headers, cancellationToken,
                }, transaction);
                updated = await connection.QuerySingleAsync<ActionTemplateRow>(WrittenSql, new { id, cancellationToken }, transaction);
                return null;
            }, cancellationToken);
            if (problem is not null)
                return problem;
        }
        catch (PostgresException e) when (PgErrors.IsUniqueViolation(e, NameTaken))
        {
            return Problems.Conflict("The project already has an action template with this name.");
        }
        return TypedResults.Ok(updated!.ToResponse());
    }

    /// <summary>Tasks that reference the template keep their actions; their later deliveries are parked as dead (template deleted).</summary>
    public static async Task<Results<NoContent, ProblemHttpResult>> Delete(
        Guid id, Caller caller, NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        var problem = await WriteAsync(dataSource, id, caller,
            async (connection, transaction, _) =>
            {
                await connection.ExecuteAsync(DeleteSql, new { id, cancellationToken }, transaction);
                return null;
            }, cancellationToken);
        return problem is null ? TypedResults.NoContent() : problem;
    }

    public static async Task<Results<Ok<WebhookSecretResponse>, ProblemHttpResult>> RotateSecret(
        Guid id, Caller caller, NpgsqlDataSource dataSource, WebhookSecretVault vault, IOptions<WebhooksOptions> options, CancellationToken cancellationToken)
    {
        WebhookSecretResponse? rotated = null;
        var problem = await WriteAsync(dataSource, id, caller, async (connection, transaction, _) =>
        {
            rotated = await WebhookSecrets.RotateAsync(connection, transaction, id, null, vault, options.Value.SecretGraceHours, cancellationToken);
            return null;
        }, cancellationToken);
        return problem is null ? TypedResults.Ok(rotated!) : problem;
    }

    /// <summary>Locks the template, checks the caller edits its project (404 unseen, 403 read-only), then runs the change.</summary>
    private static async Task<ProblemHttpResult?> WriteAsync(
        NpgsqlDataSource dataSource, Guid id, Caller caller, Func<NpgsqlConnection, NpgsqlTransaction, ActionTemplateRow, Task<ProblemHttpResult?>> change,
        CancellationToken cancellationToken)
    {
        var access = ProjectAccess.Bind(caller, ProjectRoles.Viewer);
        return await dataSource.InTransactionAsync<ProblemHttpResult?>(async (connection, transaction) =>
        {
            var row = await connection.QuerySingleOrDefaultAsync<ActionTemplateRow>(LockSql, access.On(id, cancellationToken), transaction);
            if (row is null)
                return Problems.NotFound("No such action template.");
            var role = caller.IsAdmin ? ProjectRoles.Owner
                : await connection.QuerySingleOrDefaultAsync<string>(MembershipSql, new { projectId = row.ProjectId, userId = caller.UserId, cancellationToken }, transaction);
            if (!ProjectAccess.Allows(caller, role, ProjectRoles.Editor))
                return Problems.Forbidden("Changing an action template needs the editor role in its project.");
            return await change(connection, transaction, row);
        }, cancellationToken);
    }

    private const string MembershipSql = "SELECT role FROM project_members WHERE project_id = @projectId AND user_id = @userId";

    private static async Task<ActionTemplateRow?> ReadAsync(NpgsqlDataSource dataSource, Guid id, Caller caller, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<ActionTemplateRow>(OneSql,
            ProjectAccess.Bind(caller, ProjectRoles.Viewer).On(id, cancellationToken));
    }
}
