using System.Text.Json.Nodes;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Features.Projects;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Workflows;

/// <summary>
/// POST /workflows/{id}/versions: project editors change a definition, which makes a new immutable version numbered
/// after the latest; the workflow takes its name and description. It becomes the default unless <c>default=false</c>
/// (then it can be tried with a run naming its number and made the default later). A definition identical to the latest
/// version's makes no new version: the answer is 200 with that version. Honours If-Match on the workflow's ETag.
/// </summary>
public static class AddWorkflowVersion
{
    private const string LatestDefinitionSql = """
        SELECT definition::text FROM workflow_versions WHERE workflow_id = @id AND number = @number
        """;

    private const string AdvanceSql = """
        UPDATE workflows AS w
        SET latest_version = @number, default_version = CASE WHEN @makeDefault THEN @number ELSE default_version END,
            name = @name, description = @description
        WHERE w.id = @id
        RETURNING
        """ + " " + WorkflowReads.Columns;

    private sealed record Outcome(ProblemHttpResult? Problem, WorkflowVersionRow? Version, bool Created);

    public static async Task<Results<Created<WorkflowVersionResponse>, Ok<WorkflowVersionResponse>, ProblemHttpResult>> Handle(
        Guid id,
        [FromQuery(Name = "default")] string? makeDefault,
        Caller caller,
        HttpContext http,
        NpgsqlDataSource dataSource,
        IOptions<WorkflowsOptions> workflows,
        IOptions<TasksOptions> tasks,
        CancellationToken cancellationToken)
    {
        if (!caller.CanWrite)
            return Problems.Forbidden("Viewers cannot change workflows.");
        var query = new ValidationErrors();
        var asDefault = makeDefault is null || ProjectRules.Flag(makeDefault, "default", query);
        if (!query.IsEmpty)
            return query.ToQueryProblem();
        var ifMatch = ETags.IfMatchVersions(http.Request);

        Guid projectId;
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            // The project is needed to plan the trial render; access is checked again under the lock below.
            var (found, denied) = await WorkflowAccess.FindAsync(connection, null, caller, id, ProjectRoles.Editor,
                includeDeleted: false, forUpdate: false, cancellationToken);
            if (denied is not null)
                return denied;
            projectId = found!.ProjectId;
        }
        var (compiled, problem) = await DefinitionBody.ReadAsync(http.Request, projectId, workflows.Value, tasks.Value, cancellationToken);
        if (problem is not null)
            return problem;

        Outcome outcome;
        try
        {
            outcome = await dataSource.InTransactionAsync(async (connection, transaction) =>
            {
                var (workflow, refused) = await WorkflowAccess.FindAsync(connection, transaction, caller, id, ProjectRoles.Editor,
                    includeDeleted: false, forUpdate: true, cancellationToken);
                if (refused is not null)
                    return new Outcome(refused, null, false);
                if (ifMatch is not null && !ifMatch.Contains(workflow!.Version))
                    return new Outcome(ETags.PreconditionFailed(), null, false);

                var latest = await connection.QuerySingleAsync<string>(LatestDefinitionSql,
                    new { id, number = workflow!.LatestVersion, cancellationToken }, transaction);
                if (JsonNode.DeepEquals(JsonNode.Parse(latest), JsonNode.Parse(compiled!.Json)))
                    return new Outcome(null, await connection.QuerySingleAsync<WorkflowVersionRow>(GetWorkflowVersion.VersionSql,
                        new { id, number = workflow.LatestVersion, cancellationToken }, transaction), false);

                var number = workflow.LatestVersion + 1;
                await CreateWorkflow.InsertVersionAsync(connection, transaction, id, number, compiled, caller, cancellationToken);
                var after = await connection.QuerySingleAsync<WorkflowRow>(AdvanceSql, new
                {
                    id, number, makeDefault = asDefault, name = compiled.Definition.Name, description = compiled.Definition.Description,
                    cancellationToken,
                }, transaction);
                await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("workflow.version", "workflow", id.ToString(),
                    AuditActor.From(http, caller),
                    new AuditDiff().Change("latest_version", workflow.LatestVersion, number)
                        .Change("default_version", workflow.DefaultVersion, after.DefaultVersion)
                        .Change("name", workflow.Name, after.Name).ToJson()),
                    cancellationToken);
                var version = await connection.QuerySingleAsync<WorkflowVersionRow>(GetWorkflowVersion.VersionSql, new { id, number, cancellationToken }, transaction);
                return new Outcome(null, version, true);
            }, cancellationToken);
        }
        catch (PostgresException e) when (PgErrors.IsUniqueViolation(e, CreateWorkflow.NameTaken))
        {
            return Problems.Conflict("Another live workflow of the project has this name.");
        }
        if (outcome.Problem is { } failed)
            return failed;
        var response = outcome.Version!.ToResponse();
        return outcome.Created
            ? TypedResults.Created($"/api/v1/workflows/{id}/versions/{response.Number}", response)
            : TypedResults.Ok(response);
    }
}
