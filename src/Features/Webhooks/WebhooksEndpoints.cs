namespace TaskRunner.Features.Webhooks;

public static class WebhooksEndpoints
{
    public static IServiceCollection AddWebhooksFeature(this IServiceCollection services)
    {
        services.AddSingleton<DeliveryMetrics>();
        services.AddDeliveryHttp();
        services.AddSingleton<DeliverySender>();
        services.AddHostedService<DeliveryWorker>();
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
            .WithSummary("Webhook deliveries of the tasks the caller may read, newest first; `status=dead` is the dead-letter list. "
                + "Filters: `status` (pending, delivering, delivered, dead), `task_id`.")
            .ProducesProblem(StatusCodes.Status400BadRequest);
        deliveries.MapGet("/tasks/{id:guid}/deliveries", Deliveries.ListOfTask)
            .WithName("ListTaskDeliveries")
            .WithSummary("The webhook deliveries of one task, newest first, with their status, attempts and last outcome.")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        deliveries.MapGet("/deliveries/{id:guid}", Deliveries.Get)
            .WithName("GetDelivery")
            .WithSummary("One delivery with every attempt: status code, duration, error and up to 1 KiB of the receiver's answer.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        deliveries.MapPost("/deliveries/{id:guid}/redeliver", Deliveries.Redeliver)
            .WithName("RedeliverDelivery")
            .WithSummary("Send a dead or delivered delivery again, from the first step of the retry schedule (same `webhook-id`, so "
                + "receivers can tell). Re-enables an action a 410 had disabled. Project editors; 409 while pending or delivering.")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        deliveries.MapPost("/projects/{id:guid}/webhook-secret", WebhookSecrets.RotateProjectSecret)
            .WithName("RotateProjectWebhookSecret")
            .WithSummary("Create or rotate the secret (`whsec_…`, shown once) that signs the inline actions of the project's tasks. The "
                + "previous secret keeps signing beside it for `Webhooks:SecretGraceHours`. Project editors.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        return api;
    }
}
