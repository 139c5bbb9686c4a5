using System.Text.Json.Serialization;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Projects;

/// <summary>
/// A partial update: a property left out keeps its value, <c>"description": null</c> clears the description. Each setter
/// records that its property was present. Plain setters, not init: the JSON source generator sets init-only properties
/// through an object initializer, for every property, present in the body or not (the tests prove the difference).
/// </summary>
public sealed class UpdateProjectRequest
{
    private string? name;
    private string? description;

    public string? Name
    {
        get => name;
        set
        {
            name = value;
            HasName = true;
        }
    }

    public string? Description
    {
        get => description;
        set
        {
            description = value;
            HasDescription = true;
        }
    }

    [JsonIgnore] public bool HasName { get; private set; }

    [JsonIgnore] public bool HasDescription { get; private set; }
}

/// <summary>Project editors (and owners, and admins) rename a project or change its description; <c>If-Match</c> is honoured.</summary>
public static class UpdateProject
{
    // The row is locked (ProjectRules.LockAsync) and its version checked against If-Match before this runs; the version
    // condition repeats the check in the statement itself, so no interleaving can apply a stale update.
    private const string UpdateSql = """
        UPDATE projects
        SET name = CASE WHEN @setName THEN @name ELSE name END,
            description = CASE WHEN @setDescription THEN @description ELSE description END
        WHERE id = @id AND version = @version AND deleted_at IS NULL
        RETURNING id, name, description, created_by, created_at, updated_at, deleted_at, version
        """;

    public static async Task<Results<Ok<ProjectResponse>, ProblemHttpResult>> Handle(
        Guid id,
        UpdateProjectRequest request,
        Caller caller,
        HttpContext http,
        NpgsqlDataSource dataSource,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var name = request.HasName ? ProjectRules.Name(request.Name, errors) : null;
        ProjectRules.Description(request.Description, errors);
        if (!request.HasName && !request.HasDescription)
            errors.Add("body", "set name, description, or both");
        if (!errors.IsEmpty)
            return errors.ToProblem();

        var result = await dataSource.InTransactionAsync<Results<Ok<ProjectResponse>, ProblemHttpResult>>(async (connection, transaction) =>
        {
            var before = await ProjectRules.LockAsync(connection, transaction, id, caller, includeDeleted: false, cancellationToken);
            if (before is null)
                return Problems.NotFound("No such project.");
            if (!ProjectAccess.Allows(caller, before.CallerRole, ProjectRoles.Editor))
                return Problems.Forbidden("Only the project's editors and owners may change it.");
            if (!ProjectRules.Matches(http.Request, before.Version))
                return ETags.PreconditionFailed();
            var updated = await connection.QuerySingleOrDefaultAsync<ProjectRow>(UpdateSql, new
            {
                id,
                version = before.Version,
                setName = request.HasName,
                name,
                setDescription = request.HasDescription,
                description = request.Description,
                cancellationToken,
            }, transaction);
            if (updated is null)
                return ETags.PreconditionFailed();
            await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("project.update", "project", id.ToString(),
                AuditActor.From(http, caller),
                new AuditDiff()
                    .Change("name", before.Name, updated.Name)
                    .Change("description", before.Description, updated.Description)
                    .ToJson()),
                cancellationToken);
            ETags.Set(http, updated.Version);
            return TypedResults.Ok(updated.ToResponse());
        }, cancellationToken);
        return result;
    }
}
