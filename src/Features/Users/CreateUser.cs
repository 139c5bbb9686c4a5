using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Users;

public sealed record CreateUserRequest([property: ApiRequired] string? Email, [property: ApiRequired] string? DisplayName, string? Role);

/// <summary>The new account and the one-time token that lets its user choose a password (shown only here).</summary>
public sealed record CreatedUserResponse(
    Guid Id,
    string Email,
    string DisplayName,
    string Role,
    bool Disabled,
    DateTime CreatedAt,
    DateTime UpdatedAt,
    PasswordTokenResponse SetPassword);

/// <summary>
/// Admins create accounts (registration may be closed). The account has no password: nobody can log in to it until its
/// user redeems the set-password token, which the admin passes on.
/// </summary>
public static class CreateUser
{
    private const string InsertSql = """
        INSERT INTO users (id, email, display_name, role, password_hash)
        VALUES (@id, @email, @displayName, @role, NULL)
        ON CONFLICT (email) DO NOTHING
        RETURNING id, email, display_name, role, disabled, created_at, updated_at, totp_required, totp_enabled_at IS NOT NULL AS totp_enabled
        """;

    public static async Task<Results<Created<CreatedUserResponse>, ProblemHttpResult>> Handle(
        CreateUserRequest request,
        Caller caller,
        HttpContext http,
        NpgsqlDataSource dataSource,
        IOptions<AuthOptions> options,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var email = AccountRules.ValidateEmail(errors, "email", request.Email);
        errors.RequireLength("display_name", request.DisplayName?.Trim(), 1, 200);
        var role = request.Role ?? Roles.Member;
        if (!Roles.All.Contains(role))
            errors.Add("role", "must be one of admin, member, viewer");
        if (!errors.IsEmpty)
            return errors.ToProblem();

        var created = await dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            var user = await connection.QuerySingleOrDefaultAsync<UserRow>(InsertSql, new
            {
                id = Ids.New(),
                email,
                displayName = request.DisplayName!.Trim(),
                role,
                cancellationToken,
            }, transaction);
            if (user is null)
                return null;
            var token = await PasswordTokens.IssueAsync(connection, transaction, user.Id, PasswordTokens.SetPassword, caller.UserId,
                options.Value, cancellationToken);
            await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("user.create", "user", user.Id.ToString(),
                AuditActor.From(http, caller), new AuditDiff().Change("email", null, user.Email).Change("role", null, user.Role).ToJson()),
                cancellationToken);
            return new CreatedUserResponse(user.Id, user.Email, user.DisplayName, user.Role, user.Disabled, user.CreatedAt, user.UpdatedAt, token);
        }, cancellationToken);
        if (created is null)
            return Problems.Conflict("An account with this email already exists.");
        http.Response.Headers.CacheControl = "no-store";
        return TypedResults.Created($"/api/v1/users/{created.Id}", created);
    }
}
