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

        users.MapGet("/me", GetCurrentUser.Handle)
            .AllowWhileSecondFactorPending()
            .WithName("GetCurrentUser")
            .WithSummary("The authenticated caller's account");
        users.MapGet("/", ListUsers.Handle)
            .RequireAuthorization(AuthSetup.AdminPolicy)
            .WithName("ListUsers")
            .WithSummary("List users")
            .WithDescription("Admins: every account, oldest first, optionally of one `role`; cursor pages with a Link header")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden);
        users.MapPost("/", CreateUser.Handle)
            .RequireAuthorization(AuthSetup.AdminPolicy)
            .WithName("CreateUser")
            .WithSummary("Admins: create an account")
            .WithDescription("""
                Creates an account without a password (`role` defaults to member) and answers, this once, a one-time
                `set_password` token for its user (no e-mail is sent: pass it on, for example in a link to your own page).
                It is redeemed at `POST /auth/password-tokens/redeem` before `set_password.expires_at`
                (`Auth:SetPasswordTokenMinutes`, default 24 h); nobody can log in to the account before. 409 when the email
                has an account.
                """)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        users.MapDelete("/{id:guid}", DeleteUser.Handle)
            .RequireAuthorization(AuthSetup.AdminPolicy)
            .WithName("DeleteUser")
            .WithSummary("Admins: delete an account for good")
            .WithDescription("""
                Deletion of an account anonymises it, for privacy: the one deletion that is not soft and cannot be restored
                (no `restore`, no `include_deleted`). Its email, display name, password and second factor are erased, its
                sessions, API keys and tokens are deleted, and its email is scrubbed from the audit entries about it; the
                audit history itself is kept, and tasks and comments keep naming the account's id. The email may be used
                for a new account. Admins cannot delete themselves (409).
                """)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        users.MapPost("/{id:guid}/password-reset", PasswordTokens.IssueReset)
            .RequireAuthorization(AuthSetup.AdminPolicy)
            .WithName("IssuePasswordReset")
            .WithSummary("Admins: issue a password reset token")
            .WithDescription("""
                Answers, this once, a one-time `reset` token for the user, redeemed at `POST /auth/password-tokens/redeem`
                before its `expires_at` (`Auth:PasswordResetTokenMinutes`, default 60); using it ends every session of the
                account. It replaces the user's unused tokens; the current password works until it is used. It does not
                remove a second factor.
                """)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound);
        users.MapPatch("/{id:guid}", UpdateUser.Handle)
            .RequireAuthorization(AuthSetup.AdminPolicy)
            .WithName("UpdateUser")
            .WithSummary("Update a user")
            .WithDescription("Admins: change a user's role or disable the account (which ends its sessions at once)"
                + "\n\n" + """
                `totp_required: true` requires a TOTP second factor of the user: until they enrol one, their sessions may
                only enrol it (`/auth/totp/enrol`, `/auth/totp/confirm`), read `/users/me` and log out; anything else is 403.
                """)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        return api;
    }
}
