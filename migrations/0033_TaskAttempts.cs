using FluentMigrator;

namespace TaskRunner.Migrations;

/// <summary>
/// The record of every ended worker attempt of a task (GET /tasks/{id}/attempts): who ran it (the claim's <c>worker</c>,
/// or <c>push</c>), when it started and ended, how it ended and why. One row is inserted by the statement that ends the
/// attempt (a report, a timeout, an expired lease, a cancel), in its transaction; the running attempt is read from the task
/// and its lease, so a start writes nothing more. Attempt numbers only grow (a manual retry keeps the count), so
/// <c>(task_id, attempt)</c> is the key and the one index a list of a task's attempts needs. <c>id</c> (UUIDv7, not
/// indexed) only breaks ties in the list's order. Attempts that ended before this migration are not recorded.
/// </summary>
[Migration(33, "Task attempts")]
public sealed class Migration0033TaskAttempts : Migration
{
    public override void Up() => Execute.Sql("""
        CREATE TABLE task_attempts (
            task_id    uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
            attempt    integer NOT NULL CHECK (attempt >= 1),
            id         uuid NOT NULL,
            worker     text CHECK (length(worker) <= 200),
            started_at timestamptz NOT NULL,
            ended_at   timestamptz NOT NULL,
            outcome    text NOT NULL CHECK (outcome IN ('succeeded', 'failed', 'timed_out', 'cancelled')),
            error      text CHECK (length(error) <= 10000),
            PRIMARY KEY (task_id, attempt),
            CHECK (ended_at >= started_at)
        );
        """);

    public override void Down() => Execute.Sql("DROP TABLE task_attempts;");
}
