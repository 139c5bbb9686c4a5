using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Cluster;

public static class ClusterEndpoints
{
    public static IEndpointRouteBuilder MapCluster(this IEndpointRouteBuilder api)
    {
        var nodes = api.MapGroup("/nodes")
            .WithTags("Operations")
            .RequireAuthorization(AuthSetup.AdminPolicy)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden);

        nodes.MapGet("/", ListNodes.Handle)
            .WithName("ListNodes")
            .WithSummary("List the service nodes")
            .WithDescription("Admins: the service nodes (one per process start), their version, last heartbeat, status "
                + "(alive, stale after three missed heartbeats, stopped) and which one leads (the holder of the leader lock)");
        return api;
    }
}
