namespace TaskRunner.Features.Webhooks;

public static class WebhooksEndpoints
{
    public static IServiceCollection AddWebhooksFeature(this IServiceCollection services)
    {
        services.AddSingleton<DeliveryMetrics>();
        services.AddSingleton<DestinationCircuits>();
        services.AddDeliveryHttp();
        services.AddSingleton<WebhookSecretVault>();
        services.AddSingleton<DeliverySender>();
        services.AddSingleton<DeliveryRecorder>();
        services.AddHostedService<DeliveryWorker>();
        services.AddHostedService<SecretResealing>();
        return services;
    }

    public static IEndpointRouteBuilder MapWebhooks(this IEndpointRouteBuilder api)
    {
        var deliveries = api.MapGroup("/")
            .WithTags("Webhooks")
            .RequireAuthorization()
            .ProducesProblem(StatusCodes.Status401Unauthorized);
        deliveries.MapGet("/deliveries", Deliveries.List)
            .WithName("ListDeliveries")
            .WithSummary("List webhook deliveries")
            .WithDescription("Webhook deliveries of the tasks the caller may read, newest first; `status=dead` is the dead-letter list. "
                + "Filters: `status` (pending, delivering, delivered, dead), `task_id`.")
            .ProducesProblem(StatusCodes.Status400BadRequest);
        deliveries.MapGet("/tasks/{id:guid}/deliveries", Deliveries.ListOfTask)
            .WithName("ListTaskDeliveries")
            .WithSummary("List a task's deliveries")
            .WithDescription("The webhook deliveries of one task, newest first, with their status, attempts and last outcome.")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        deliveries.MapGet("/deliveries/{id:guid}", Deliveries.Get)
            .WithName("GetDelivery")
            .WithSummary("Get a delivery")
            .WithDescription("One delivery with every attempt: status code, duration, error and up to 1 KiB of the receiver's answer.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        deliveries.MapPost("/deliveries/{id:guid}/redeliver", Deliveries.Redeliver)
            .WithName("RedeliverDelivery")
            .WithSummary("Redeliver a webhook")
            .WithDescription("Send a dead or delivered delivery again, from the first step of the retry schedule (same `webhook-id`, so "
                + "receivers can tell). Re-enables an action a 410 had disabled. Project editors; 409 while pending or delivering.")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        deliveries.MapPost("/projects/{id:guid}/webhook-secret", WebhookSecrets.RotateProjectSecret)
            .WithName("RotateProjectWebhookSecret")
            .WithSummary("Rotate a project's webhook secret")
            .WithDescription("Rotate the secret (`whsec_…`, shown once) that signs the inline actions of the project's tasks (a project gets its "
                + "first one at creation, answered as `webhook_secret`; one without any gets one at its first delivery, so nothing goes out unsigned). The "
                + "previous secret keeps signing beside it for `Webhooks:SecretGraceHours`. Never shown again: the server stores it encrypted "
                + "when `Webhooks:SecretEncryptionKeys` is configured. Project editors.")
            .ProducesProblem(StatusCodes.Status404NotFound);

        var templates = api.MapGroup("/action-templates")
            .WithTags("Webhooks")
            .RequireAuthorization()
            .ProducesProblem(StatusCodes.Status401Unauthorized);
        templates.MapGet("/", ActionTemplates.List)
            .WithName("ListActionTemplates")
            .WithSummary("List action templates")
            .WithDescription("Action templates of the projects the caller may read (filter `project_id`; sort `created_at`, `name`).")
            .ProducesProblem(StatusCodes.Status400BadRequest);
        templates.MapPost("/", ActionTemplates.Create)
            .WithName("CreateActionTemplate")
            .WithSummary("Create an action template")
            .WithDescription("A named action {trigger, url, method?, headers?} of a project; its tasks use it as `{\"template_id\": \"…\"}`. The "
                + "signing secret (`whsec_…`) is in this response only. Project editors; 409 for a name the project already uses.")
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        templates.MapGet("/{id:guid}", ActionTemplates.Get)
            .WithName("GetActionTemplate")
            .WithSummary("Get an action template")
            .WithDescription("One action template (never its secret).")
            .ProducesProblem(StatusCodes.Status404NotFound);
        templates.MapPatch("/{id:guid}", ActionTemplates.Update)
            .WithName("UpdateActionTemplate")
            .WithSummary("Update an action template")
            .WithDescription("Change name, url, method or headers (the trigger is fixed). Re-enables a template a 410 Gone disabled. "
                + "Deliveries already written keep the URL they were written with.")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        templates.MapDelete("/{id:guid}", ActionTemplates.Delete)
            .WithName("DeleteActionTemplate")
            .WithSummary("Delete an action template")
            .WithDescription("Delete a template; deliveries of tasks that reference it are parked as dead from then on.")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound);
        templates.MapPost("/{id:guid}/rotate-secret", ActionTemplates.RotateSecret)
            .WithName("RotateActionTemplateSecret")
            .WithSummary("Rotate a template's secret")
            .WithDescription("A new signing secret, shown once (stored encrypted when `Webhooks:SecretEncryptionKeys` is configured); the "
                + "previous one keeps signing beside it for `Webhooks:SecretGraceHours`.")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound);
        return api;
    }
}
