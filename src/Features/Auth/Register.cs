using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Features.Users;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.RateLimiting;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Auth;

public sealed record RegisterRequest([property: ApiRequired] string? Email, [property: ApiRequired] string? Password, [property: ApiRequired] string? DisplayName);

/// <summary>
/// Self-service accounts (can be switched off). The very first account becomes an admin. Limited per client address
/// (<see cref="RateLimitPolicies.Register"/>), and the password hash takes one of the shared hashing slots.
/// </summary>
public static class Register
{
    private const string InsertSql = """
        INSERT INTO users (id, email, display_name, role, password_hash)
        SELECT @id, @email, @displayName,
               CASE WHEN EXISTS (SELECT FROM users) THEN 'member' ELSE 'admin' END,
               @passwordHash
        ON CONFLICT (email) DO NOTHING
        RETURNING id, email, display_name, role, disabled, created_at, updated_at, totp_required, totp_enabled_at IS NOT NULL AS totp_enabled
        """;

    /// <summary>Serialises registrations, so two "first" users cannot both become admin.</summary>
    private const string LockSql = "SELECT pg_advisory_xact_lock(8241001)";

    public static async Task<Results<Created<UserResponse>, ProblemHttpResult>> Handle(
        RegisterRequest request,
        HttpContext http,
        NpgsqlDataSource dataSource,
        RateLimitGate gate,
        PasswordHashingSlots hashing,
        IOptions<AuthOptions> options,
        CancellationToken cancellationToken)
    {
        if (!options.Value.RegistrationEnabled)
            return Problems.Forbidden("Registration is disabled on this server; ask an admin for an account.");

        var errors = new ValidationErrors();
        var email = AccountRules.ValidateEmail(errors, "email", request.Email);
        AccountRules.ValidatePassword(errors, "password", request.Password);
        errors.RequireLength("display_name", request.DisplayName?.Trim(), 1, 200);
        if (!errors.IsEmpty)
            return errors.ToProblem();

        if (await gate.CheckRegistrationAsync(http, cancellationToken) is { } tooMany)
            return tooMany;
        string passwordHash;
        using (var slot = await hashing.TryTakeAsync(cancellationToken))
        {
            if (slot is null)
                return Problems.ServiceUnavailable(http, PasswordHashingSlots.RetryAfter, Login.Busy);
            passwordHash = PasswordHasher.Hash(request.Password!);
        }
        var user = await dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            await connection.ExecuteAsync(LockSql, new { cancellationToken }, transaction);
            var created = await connection.QuerySingleOrDefaultAsync<UserRow>(InsertSql, new
            {
                id = Ids.New(),
                email,
                displayName = request.DisplayName!.Trim(),
                passwordHash,
                cancellationToken,
            }, transaction);
            if (created is not null)
            {
                await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("user.register", "user", created.Id.ToString(),
                    AuditActor.From(http, null) with { UserId = created.Id },
                    new AuditDiff().Change("email", null, created.Email).Change("role", null, created.Role).ToJson()), cancellationToken);
            }
            return created;
        }, cancellationToken);

        return user is null
            ? Problems.Conflict("An account with this email already exists.")
            : TypedResults.Created($"/api/v1/users/{user.Id}", user.ToResponse());
    }
}
