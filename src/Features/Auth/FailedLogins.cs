namespace TaskRunner.Features.Auth;

/// <summary>
/// The account lockout's arithmetic, shared by every statement that counts a password attempt (login, changing a
/// password): the attempt is counted before the password is checked, the attempt that reaches <c>@maxFailures</c> locks
/// the account for <c>@lockoutMinutes</c>, and a lock that has run out starts the count again. A statement using it
/// updates only rows matching <see cref="Unlocked"/>, so a locked account's attempts are not checked at all.
/// </summary>
public static class FailedLogins
{
    public const string CountAttempt = """
        failed_logins = CASE WHEN locked_until <= now() THEN 1 ELSE failed_logins + 1 END,
        locked_until = CASE WHEN (CASE WHEN locked_until <= now() THEN 1 ELSE failed_logins + 1 END) >= @maxFailures
                            THEN now() + make_interval(mins => @lockoutMinutes) END
        """;

    public const string Unlocked = "(locked_until IS NULL OR locked_until <= now())";
}
