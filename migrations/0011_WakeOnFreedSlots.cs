using FluentMigrator;

namespace TaskRunner.Migrations;

/// <summary>
/// A task of a concurrency key that ends frees a slot of that key, so a task waiting on the limit may start: wake the
/// long-polling claimers and the leader's dispatcher then too, instead of leaving the waiting task to their next poll.
/// </summary>
[Migration(11, "Wake on freed concurrency slots")]
public sealed class Migration0011WakeOnFreedSlots : Migration
{
    public override void Up() => Execute.Sql("""
        -- As in migration 6, and also when a keyed task ended in this statement's transaction (every end sets
        -- ended_at = now(), the transaction's start). A retried task is back to pending, which the first test covers.
        CREATE OR REPLACE FUNCTION notify_tasks_ready() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (SELECT FROM changed_tasks
                       WHERE deleted_at IS NULL
                         AND ((status = 'pending' AND pending_parents = 0)
                              OR (concurrency_key IS NOT NULL AND ended_at = now()))) THEN
                PERFORM pg_notify('taskrunner_ready', '');
            END IF;
            RETURN NULL;
        END
        $$;
        """);

    public override void Down() => Execute.Sql("""
        CREATE OR REPLACE FUNCTION notify_tasks_ready() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (SELECT FROM changed_tasks WHERE status = 'pending' AND pending_parents = 0 AND deleted_at IS NULL) THEN
                PERFORM pg_notify('taskrunner_ready', '');
            END IF;
            RETURN NULL;
        END
        $$;
        """);
}
