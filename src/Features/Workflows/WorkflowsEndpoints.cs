using Microsoft.Extensions.Options;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Http;

namespace TaskRunner.Features.Workflows;

public static class WorkflowsEndpoints
{
    /// <summary>How every definition route words the body, so the OpenAPI document states it once and the same.</summary>
    private const string DefinitionBodyRules =
        " The body is the definition in YAML (`application/yaml`) or JSON (`application/json`); docs/workflows.md describes it. "
        + "Over Workflows:MaxDefinitionBytes (1 MiB): 413; another media type: 415; not UTF-8 or not JSON: 400; anything else "
        + "wrong — unknown fields, duplicate keys, tabs, aliases expanding past the node budget, nesting deeper than 64, cycles, "
        + "placeholders naming undefined parameters, fan-outs past Workflows:MaxFanOut, more tasks than Tasks:MaxBulkItems — is "
        + "a 422 listing every error by its path, with line and column for YAML.";

    public static IServiceCollection AddWorkflowsFeature(this IServiceCollection services) =>
        services.AddSingleton<WorkflowMetrics>();

    public static IEndpointRouteBuilder MapWorkflows(this IEndpointRouteBuilder api)
    {
        var options = api.ServiceProvider.GetRequiredService<IOptions<WorkflowsOptions>>();
        var definitionLimit = new RequestBodyLimit(() => options.Value.MaxDefinitionBytes);
        var projects = api.MapGroup("/projects/{id:guid}/workflows")
            .WithTags("Workflows")
            .RequireAuthorization()
            .ProducesProblem(StatusCodes.Status401Unauthorized);
        projects.MapPost("/", CreateWorkflow.Handle)
            .Idempotent()
            .WithMetadata(definitionLimit)
            .WithName("CreateWorkflow")
            .WithSummary("Create a workflow")
            .WithDescription("Project editors: define a workflow; its first version is the default. A name is unique among the "
                + "project's live workflows (409). Honours Idempotency-Key." + DefinitionBodyRules
                + "\n\n" + ApiExamples.WorkflowDefinition)
            .Accepts<string>("application/yaml", "application/json")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        projects.MapGet("/", ListWorkflows.Handle)
            .WithName("ListWorkflows")
            .WithSummary("List workflows")
            .WithDescription("The project's workflows (anyone who may read it); `sort` = -created_at (default), created_at, name or -name; "
                + "`include_deleted=true` adds deleted ones; cursor pages with a Link header")
            .ProducesProblem(StatusCodes.Status400BadRequest);

        var workflows = api.MapGroup("/workflows")
            .WithTags("Workflows")
            .RequireAuthorization()
            .ProducesProblem(StatusCodes.Status401Unauthorized);
        workflows.MapGet("/{id:guid}", GetWorkflow.Handle)
            .WithName("GetWorkflow")
            .WithSummary("Get a workflow")
            .WithDescription("A workflow with its default and latest version numbers and its strong ETag (If-None-Match gives 304); "
                + "a deleted one only with `include_deleted=true`")
            .Produces(StatusCodes.Status304NotModified)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        workflows.MapDelete("/{id:guid}", DeleteWorkflow.Handle)
            .WithName("DeleteWorkflow")
            .WithSummary("Delete a workflow")
            .WithDescription("Project editors: soft-delete a workflow (restorable). It can no longer be run; versions, runs and "
                + "their tasks stay. Honours If-Match")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status412PreconditionFailed);
        workflows.MapPost("/{id:guid}/restore", RestoreWorkflow.Handle)
            .WithName("RestoreWorkflow")
            .WithSummary("Restore a workflow")
            .WithDescription("Project editors: undo a soft delete; 409 if it is not deleted or its name was taken meanwhile")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        workflows.MapPost("/{id:guid}/versions", AddWorkflowVersion.Handle)
            .WithMetadata(definitionLimit)
            .WithName("AddWorkflowVersion")
            .WithSummary("Add a workflow version")
            .WithDescription("Project editors: change the definition, making a new immutable version (201) that becomes the default "
                + "unless `default=false`; the workflow takes its name and description. A definition equal to the latest "
                + "version's makes none (200 with that version). Honours If-Match." + DefinitionBodyRules
                + "\n\n" + ApiExamples.WorkflowDefinition)
            .Accepts<string>("application/yaml", "application/json")
            .Produces<WorkflowVersionResponse>(StatusCodes.Status200OK)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status412PreconditionFailed)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        workflows.MapGet("/{id:guid}/versions", ListWorkflowVersions.Handle)
            .WithName("ListWorkflowVersions")
            .WithSummary("List a workflow's versions")
            .WithDescription("The workflow's versions, newest first (`sort` = -number or number), without their definitions; cursor pages")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        workflows.MapGet("/{id:guid}/versions/{number:int}", GetWorkflowVersion.Handle)
            .WithName("GetWorkflowVersion")
            .WithSummary("Get a workflow version")
            .WithDescription("One version: its JSON `definition` (what runs read) and its `source` as it was sent (YAML or JSON)")
            .ProducesProblem(StatusCodes.Status404NotFound);
        workflows.MapPost("/{id:guid}/versions/{number:int}/default", SetDefaultWorkflowVersion.Handle)
            .WithName("SetDefaultWorkflowVersion")
            .WithSummary("Set the default version")
            .WithDescription("Project editors: make this version the one runs use when they name none. Honours If-Match")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status412PreconditionFailed);
        workflows.MapGet("/{id:guid}/diff", DiffWorkflowVersions.Handle)
            .WithName("DiffWorkflowVersions")
            .WithSummary("Compare two versions")
            .WithDescription("How version `to` differs from version `from`: name/description, parameters and tasks added, removed and "
                + "changed (with the changed fields of each task), dependency edges added and removed")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        workflows.MapPost("/{id:guid}/runs", StartWorkflowRun.Handle)
            .Idempotent()
            .WithName("StartWorkflowRun")
            .WithSummary("Start a workflow run")
            .WithDescription("Project editors: start a run of `version` (default: the default version) with `params`. Parameters are "
                + "checked against the version's schema (422 under `params.*`); the DAG is rendered — placeholders once, a value "
                + "holding `{{` stays data — and created as one batch through the bulk-create path, in one transaction with the "
                + "run (201; `X-Batch-ID`). Refs are the task keys, for_each copies `key[0]`, `key[1]`, …. Honours Idempotency-Key")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        workflows.MapGet("/{id:guid}/runs", ListWorkflowRuns.Handle)
            .WithName("ListWorkflowRuns")
            .WithSummary("List a workflow's runs")
            .WithDescription("The workflow's runs, newest first, each with its parameters and its batch's task counts by status; cursor pages")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        return api;
    }
}
