using System.Net.Sockets;
using Npgsql;

namespace TaskRunner.Infrastructure.Database;

/// <summary>The one place that decides what a database failure means for the caller.</summary>
public static class PgErrors
{
    public const string UniqueViolation = "23505";
    public const string ForeignKeyViolation = "23503";
    public const string CheckViolation = "23514";
    public const string SerializationFailure = "40001";
    public const string DeadlockDetected = "40P01";

    /// <summary>Raised (as a foreign key violation) by the tasks trigger when an action names no template of the task's project.</summary>
    public const string ActionTemplateReference = "tasks_actions_template";

    /// <summary>Raised (as a check violation) by the triggers that keep live dependency edges within one project.</summary>
    public const string EdgeWithinProject = "task_dependencies_within_project";

    /// <summary>
    /// True when the database cannot serve us right now — unreachable, starting or shutting down, out of connections, or our
    /// pool has no free connection within the timeout. The request should get 503 with Retry-After, not 500.
    /// </summary>
    public static bool IsUnavailable(Exception exception)
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            switch (current)
            {
                case PostgresException postgres:
                    return postgres.SqlState is "57P01" or "57P02" or "57P03" // admin/crash shutdown, cannot connect now
                        or "53300" // too many connections
                        or "08000" or "08003" or "08006" or "08001" or "08004"; // connection exceptions
                case NpgsqlException npgsql when npgsql.InnerException is SocketException or TimeoutException or IOException:
                    return true;
                case NpgsqlException npgsql when npgsql.IsTransient:
                    return true;
                case SocketException:
                    return true;
            }
        }
        return false;
    }

    /// <summary>True when retrying the whole transaction may succeed (serialization failure or deadlock).</summary>
    public static bool IsRetryable(Exception exception) =>
        exception is PostgresException { SqlState: SerializationFailure or DeadlockDetected };

    public static bool IsUniqueViolation(Exception exception, string? constraint = null) =>
        exception is PostgresException { SqlState: UniqueViolation } postgres
        && (constraint is null || postgres.ConstraintName == constraint);
}
