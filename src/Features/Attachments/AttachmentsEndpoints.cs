using Microsoft.AspNetCore.Http.Timeouts;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Storage;

namespace TaskRunner.Features.Attachments;

/// <summary>Files attached to tasks: upload, list, download (with ranges), thumbnails, delete.</summary>
public static class AttachmentsEndpoints
{
    /// <summary>Room for the multipart framing and small fields around the largest file.</summary>
    private const long MultipartOverheadBytes = 1024 * 1024;

    public static IServiceCollection AddAttachmentsFeature(this IServiceCollection services)
    {
        services.AddBlobStorage();
        services.AddSingleton<AttachmentMetrics>();
        services.AddSingleton<ThumbnailSignal>();
        services.AddHostedService<ThumbnailWorker>();
        services.AddRetention<AttachmentsOptions>(AttachmentRetention.Job);
        services.AddSingleton<BlobPurge>();
        services.AddHostedService(provider => provider.GetRequiredService<BlobPurge>());
        return services;
    }

    public static IEndpointRouteBuilder MapAttachments(this IEndpointRouteBuilder api)
    {
        var options = api.ServiceProvider.GetRequiredService<IOptions<AttachmentsOptions>>();
        var tasks = api.MapGroup("/tasks")
            .WithTags("Attachments")
            .RequireAuthorization()
            .ProducesProblem(StatusCodes.Status401Unauthorized);
        tasks.MapPost("/{id:guid}/attachments", UploadAttachment.Handle)
            // Uploads may be larger than the general body limit; the handler enforces the file's own limit exactly.
            .WithMetadata(new RequestBodyLimit(() => options.Value.MaxSizeBytes + MultipartOverheadBytes))
            .AddOpenApiOperationTransformer(DescribeUploadBody)
            .WithName("UploadAttachment")
            .WithMetadata(new DisableRequestTimeoutAttribute()) // a large file arrives at the client's pace
            .WithSummary("Attach a file to a task")
            .WithDescription("Attach a file to a task (project editors): multipart/form-data, field `file`"
                + "\n\n" + "The file is streamed to storage while hashed (SHA-256). Its type is decided from its first bytes against "
                + "`Attachments:AllowedTypes`: a type not allowed, or a declared part type that disagrees with the bytes, is a 415. "
                + "Past `Attachments:MaxSizeBytes` or the project's quota (`Attachments:ProjectQuotaBytes`) the upload stops with a 413; "
                + "a body cut short is a 400; nothing of a refused upload is kept. The file name is reduced to its last path segment, "
                + "without control characters, at most 255 characters. Images get a thumbnail in the background (`thumbnail_url`).")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        tasks.MapGet("/{id:guid}/attachments", ListAttachments.Handle)
            .WithName("ListTaskAttachments")
            .WithSummary("List a task's attachments")
            .WithDescription("A task's attachments, oldest first; cursor pages with a Link header")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);

        var attachments = api.MapGroup("/attachments")
            .WithTags("Attachments")
            .RequireAuthorization()
            .ProducesProblem(StatusCodes.Status401Unauthorized);
        attachments.MapGet("/{id:guid}/download", DownloadAttachment.Download)
            .WithName("DownloadAttachment")
            .WithMetadata(new DisableRequestTimeoutAttribute()) // a large file leaves at the client's pace
            .WithSummary("Download an attachment")
            .WithDescription("The file's bytes: ETag is its SHA-256 (If-None-Match gives 304); one byte Range gives 206, past the end 416"
                + "\n\n" + "`Content-Disposition` carries the name as `filename` (ASCII) and `filename*` (UTF-8, RFC 6266). Images and "
                + "plain text are `inline`; everything else — HTML, SVG, XML and JavaScript always — is an `attachment`, and "
                + "`X-Content-Type-Options: nosniff` is set. A malformed or multi-range `Range` is ignored (200 with the whole file).")
            .Produces(StatusCodes.Status200OK, contentType: "application/octet-stream")
            .Produces(StatusCodes.Status206PartialContent, contentType: "application/octet-stream")
            .Produces(StatusCodes.Status304NotModified)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status416RangeNotSatisfiable);
        attachments.MapGet("/{id:guid}/thumbnail", GetAttachmentThumbnail.Handle)
            .WithName("GetAttachmentThumbnail")
            .WithSummary("Get an attachment's thumbnail")
            .WithDescription("The image's thumbnail (JPEG, or PNG with transparency); 404 with a problem saying whether it is pending or impossible")
            .Produces(StatusCodes.Status200OK, contentType: "image/jpeg")
            .Produces(StatusCodes.Status304NotModified)
            .ProducesProblem(StatusCodes.Status404NotFound);
        attachments.MapDelete("/{id:guid}", DeleteAttachment.Handle)
            .WithName("DeleteAttachment")
            .WithSummary("Delete an attachment")
            .WithDescription("Soft-delete an attachment (project editors); purged after the retention period")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound);
        return api;
    }

    /// <summary>
    /// The handler reads the multipart body as a stream itself (never buffered), so nothing describes the body for the
    /// document generator: the form with its one file field is spelled out here.
    /// </summary>
    private static Task DescribeUploadBody(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        operation.RequestBody = new OpenApiRequestBody
        {
            Required = true,
            Description = "A multipart/form-data form with the file in the field `file` (its part's file name and content type are read too).",
            Content = new Dictionary<string, OpenApiMediaType>
            {
                ["multipart/form-data"] = new OpenApiMediaType
                {
                    Schema = new OpenApiSchema
                    {
                        Type = JsonSchemaType.Object,
                        Required = new HashSet<string> { UploadAttachment.FileField },
                        Properties = new Dictionary<string, IOpenApiSchema>
                        {
                            [UploadAttachment.FileField] = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" },
                        },
                    },
                },
            },
        };
        return Task.CompletedTask;
    }
}
