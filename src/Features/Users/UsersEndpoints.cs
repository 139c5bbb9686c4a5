using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Users;

public static class UsersEndpoints
{
    public static IServiceCollection AddUsersFeature(this IServiceCollection services) =>
        services.AddHostedService<BootstrapAdmin>();

    public static IEndpointRouteBuilder MapUsers(this IEndpointRouteBuilder api)
    {
        var users = api.MapGroup("/users")
            .WithTags("Users")
            .RequireAuthorization()
            .ProducesProblem(StatusCodes.Status401Unauthorized);

        users.MapGet("/me", Users.GetMe)
            .WithName("GetCurrentUser")
            .WithSummary("The authenticated caller's account");
        users.MapGet("/", ListUsers.Handle)
            .RequireAuthorization(AuthSetup.AdminPolicy)
            .WithName("ListUsers")
            .WithSummary("Admins: every account, oldest first, optionally of one `role`; cursor pages with a Link header")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden);
        users.MapPatch("/{id:guid}", Users.Update)
            .RequireAuthorization(AuthSetup.AdminPolicy)
            .WithName("UpdateUser")
            .WithSummary("Admins: change a user's role or disable the account (which ends its sessions at once)")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        return api;
    }
}
