using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Features.Users;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Auth;

public sealed record ChangePasswordRequest([property: ApiRequired] string? CurrentPassword, [property: ApiRequired] string? NewPassword);

/// <summary>
/// A user changes their own password from a session: the current password is required, and counts towards the lockout
/// like a login (a stolen access token cannot guess it at leisure). Every other session of the user ends; the one making
/// the request stays. Unused reset tokens stop working.
/// </summary>
public static class ChangePassword
{
    /// <summary>Reserves the attempt as login does (see <see cref="FailedLogins"/>); no row back means the account is locked.</summary>
    private const string ReserveAttemptSql = """
        UPDATE users SET
        """ + "\n" + FailedLogins.CountAttempt + "\n" + """
        WHERE id = @id AND deleted_at IS NULL AND
        """ + "\n" + FailedLogins.Unlocked + "\n" + """
        RETURNING password_hash
        """;

    private const string UpdateSql = """
        UPDATE users SET password_hash = @passwordHash, failed_logins = 0, locked_until = NULL, updated_at = now() WHERE id = @id;
        UPDATE sessions SET revoked_at = now(), revoked_reason = 'password_changed'
        WHERE user_id = @id AND id <> @sessionId AND revoked_at IS NULL;
        DELETE FROM password_tokens WHERE user_id = @id AND used_at IS NULL;
        """;

    internal sealed record Reservation(string? PasswordHash);

    public static async Task<Results<NoContent, ProblemHttpResult>> Handle(
        ChangePasswordRequest request,
        Caller caller,
        HttpContext http,
        NpgsqlDataSource dataSource,
        PasswordHashingSlots hashing,
        CallerStateCache cache,
        IOptions<AuthOptions> options,
        CancellationToken cancellationToken)
    {
        if (caller.SessionId is not { } sessionId)
            return Problems.Forbidden("A password is changed from a session (log in); an API key cannot change it.");
        var errors = new ValidationErrors();
        errors.RequireLength("current_password", request.CurrentPassword, 1, AccountRules.PasswordMaxLength);
        AccountRules.ValidatePassword(errors, "new_password", request.NewPassword);
        if (!errors.IsEmpty)
            return errors.ToProblem();

        var settings = options.Value;
        string? newHash = null;
        using (var slot = await hashing.TryTakeAsync(cancellationToken))
        {
            if (slot is null)
                return Problems.ServiceUnavailable(http, PasswordHashingSlots.RetryAfter, Login.Busy);
            Reservation? reservation;
            await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
            {
                reservation = await connection.QuerySingleOrDefaultAsync<Reservation>(ReserveAttemptSql, new
                {
                    id = caller.UserId,
                    maxFailures = settings.MaxFailedLogins,
                    lockoutMinutes = settings.LockoutMinutes,
                    cancellationToken,
                });
            }
            // A locked account's password is not checked: the answer is the same as for a wrong one.
            if (reservation?.PasswordHash is { } current && PasswordHasher.Verify(request.CurrentPassword!, current))
                newHash = PasswordHasher.Hash(request.NewPassword!);
        }

        await dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            if (newHash is not null)
            {
                await connection.ExecuteAsync(UpdateSql, new { id = caller.UserId, passwordHash = newHash, sessionId, cancellationToken }, transaction);
                await AuthChanges.PublishAsync(connection, transaction, AuthChanges.User(caller.UserId), cancellationToken);
            }
            await AuditWriter.WriteAsync(connection, transaction, new AuditEntry(
                newHash is null ? "user.password_change_failed" : "user.password_change", "user", caller.UserId.ToString(),
                AuditActor.From(http, caller)), cancellationToken);
            return true;
        }, cancellationToken);
        if (newHash is null)
        {
            var wrong = new ValidationErrors();
            wrong.Add("current_password", "is incorrect (or the account is locked after too many wrong passwords)");
            return wrong.ToProblem();
        }
        cache.Clear();
        return TypedResults.NoContent();
    }
}
