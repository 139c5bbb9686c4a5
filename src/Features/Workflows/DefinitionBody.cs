using System.Text;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Http;

namespace TaskRunner.Features.Workflows;

/// <summary>A definition that passed every check: its rules, its JSON form (stored, read by runs) and its source as sent.</summary>
internal sealed record CompiledDefinition(WorkflowDefinition Definition, string Json, string Source, string Format);

/// <summary>
/// The body of POST /projects/{id}/workflows and POST /workflows/{id}/versions: a definition in YAML
/// (<c>application/yaml</c>) or JSON. Larger than <see cref="WorkflowsOptions.MaxDefinitionBytes"/>: 413; another media
/// type: 415; not UTF-8 or not JSON: 400; anything else wrong: 422 with a path (and line/column in YAML). When every
/// parameter has a default, the definition is also rendered with them and planned like a bulk request, so a task that
/// could never be created (a bad kind, an action URL the service refuses) is refused now rather than at the first run.
/// </summary>
internal static class DefinitionBody
{
    public static readonly string[] YamlMediaTypes = ["application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"];

    public static async Task<(CompiledDefinition? Definition, ProblemHttpResult? Problem)> ReadAsync(
        HttpRequest request, Guid projectId, WorkflowsOptions workflows, TasksOptions tasks, CancellationToken cancellationToken)
    {
        var mediaType = request.ContentType?.Split(';')[0].Trim().ToLowerInvariant();
        var format = mediaType switch
        {
            _ when YamlMediaTypes.Contains(mediaType) => DefinitionDocument.Yaml,
            "application/json" => DefinitionDocument.Json,
            _ when mediaType?.EndsWith("+json", StringComparison.Ordinal) == true => DefinitionDocument.Json,
            _ => null,
        };
        if (format is null)
            return (null, Problem(StatusCodes.Status415UnsupportedMediaType, "Unsupported Media Type",
                "Send the definition as application/yaml or application/json."));

        var body = await ReadBoundedAsync(request, workflows.MaxDefinitionBytes, cancellationToken);
        if (body is null)
            return (null, Problem(StatusCodes.Status413PayloadTooLarge, "Payload Too Large",
                $"A workflow definition is at most {workflows.MaxDefinitionBytes} bytes."));

        var (document, readError) = DefinitionReader.Read(body, format, workflows.MaxDocumentNodes);
        if (readError is not null)
        {
            if (readError.Malformed)
                return (null, TypedResults.Problem(new HttpValidationProblemDetails(
                    new Dictionary<string, string[]> { [readError.Path] = [readError.Message] })
                {
                    Status = StatusCodes.Status400BadRequest,
                    Title = "Malformed Request Body",
                    Detail = $"The definition {readError.Message}.",
                }));
            var refused = new ValidationErrors();
            refused.Add(readError.Path, readError.Message);
            return (null, refused.ToProblem());
        }

        var errors = new DefinitionErrors(new ValidationErrors(), document);
        var definition = WorkflowDefinitions.Read(document!.Root, tasks.MaxBulkItems, errors);
        if (definition is not null && definition.Parameters.All(parameter => parameter.Default is not null))
            TrialPlan(definition, projectId, workflows, tasks, errors);
        if (!errors.IsEmpty)
            return (null, errors.Errors.ToProblem());

        var source = Encoding.UTF8.GetString(body.AsSpan().StartsWith("\uFEFF"u8) ? body.AsSpan(3) : body);
        return (new CompiledDefinition(definition!, document.Root.ToJsonString(), source, format), null);
    }

    /// <summary>Renders with the defaults and plans the result: what the first run with defaults would meet.</summary>
    private static void TrialPlan(WorkflowDefinition definition, Guid projectId, WorkflowsOptions workflows, TasksOptions tasks, DefinitionErrors errors)
    {
        var parameters = WorkflowRendering.ResolveParameters(definition, null, workflows.MaxFanOut,
            (path, message) => errors.Add(path.Replace("params.", "parameters.", StringComparison.Ordinal) + ".default", message));
        if (parameters is null)
            return;
        WorkflowRendering.Plan(definition, new RenderValues(parameters, Guid.Empty), projectId, tasks.MaxBulkItems,
            tasks.ActionDestinations(), (path, message) => errors.Add(path, message + " (rendered with the parameters' defaults)"));
    }

    /// <summary>The whole body, or null when it is longer than <paramref name="limit"/> (read no further than that).</summary>
    private static async Task<byte[]?> ReadBoundedAsync(HttpRequest request, int limit, CancellationToken cancellationToken)
    {
        if (request.ContentLength > limit)
            return null;
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > limit)
                return null;
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }

    private static ProblemHttpResult Problem(int status, string title, string detail) =>
        TypedResults.Problem(new ProblemDetails { Status = status, Title = title, Detail = detail });
}
