using FluentMigrator;

namespace TaskRunner.Migrations;

/// <summary>
/// The hot path stops paying for the wide record (issue 15, docs/performance.md "The narrow hot-path layout"). Every
/// index that names a column the engine changes — the ready queue, running tasks per key, the status and updated_at
/// sorts, the dedupe rule — moves off <c>tasks</c>, so a start, an end or a release changes no indexed column of
/// <c>tasks</c> and is a HOT update (no index written at all; <c>fillfactor</c> leaves room on the page for it):
/// <list type="bullet">
/// <item><c>task_states</c>, one narrow row per task with the queue's and the lists' columns that change, carries those
/// indexes. Statement-level triggers on <c>tasks</c> keep it equal to the task in the same statement (one set-based
/// write per statement, whoever writes), so lists, filters, <c>waiting_on</c> and ETags never lag.</item>
/// <item>The dedupe rule reads <c>live_dedupe_key</c>: the key while the task is live and unfinished, else null, kept by
/// the tasks' row trigger; its unique index replaces the one whose predicate named <c>status</c>.</item>
/// </list>
/// </summary>
/// <remarks>
/// Runs on a database with data and writers: the table and its triggers come first (from then on every write keeps
/// <c>task_states</c> right), then existing tasks are copied in committed batches that lock the rows they copy
/// (<c>FOR SHARE</c>: a concurrent update either committed before and is copied, or waits and then updates the copy), then
/// the unique and the obsolete indexes are built and dropped CONCURRENTLY. A lock not had within <c>lock_timeout</c>
/// fails the migration instead of queueing every writer behind it; each step can run again after such a failure.
/// </remarks>
[Migration(27, TransactionBehavior.None, "Narrow task states")]
public sealed class Migration0027NarrowTaskStates : Migration
{
    public override void Up()
    {
        Execute.Sql("SET lock_timeout = '10s'");
        Execute.Sql("""
            BEGIN;
            CREATE TABLE IF NOT EXISTS task_states (
                task_id         uuid PRIMARY KEY,
                status          text NOT NULL,
                pending_parents integer NOT NULL,
                priority        smallint NOT NULL,
                created_at      timestamptz NOT NULL,
                updated_at      timestamptz NOT NULL,
                concurrency_key text,
                deleted_at      timestamptz
            );
            -- The ready queue of claims and push dispatch, in start order (priority, then age, then id).
            CREATE INDEX IF NOT EXISTS task_states_ready_idx ON task_states (priority DESC, created_at, task_id)
                WHERE status = 'pending' AND pending_parents = 0 AND deleted_at IS NULL;
            -- Counting a key's running tasks: admission, saturated keys, waiting_on, GET /concurrency-rules.
            CREATE INDEX IF NOT EXISTS task_states_running_key_idx ON task_states (concurrency_key) WHERE status = 'running';
            -- GET /tasks?status=… (a rare status: its few rows) and sort=status; sort=updated_at and updated_after.
            CREATE INDEX IF NOT EXISTS task_states_status_idx ON task_states (status, task_id);
            CREATE INDEX IF NOT EXISTS task_states_updated_idx ON task_states (updated_at, task_id);

            ALTER TABLE tasks ADD COLUMN IF NOT EXISTS live_dedupe_key text;

            -- The row trigger of every update (was bump_row_version): the ETag's version, updated_at, and the dedupe key
            -- held while the task is live and unfinished.
            CREATE OR REPLACE FUNCTION tasks_before_write() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'UPDATE' THEN
                    NEW.version := OLD.version + 1;
                    NEW.updated_at := now();
                END IF;
                NEW.live_dedupe_key := CASE WHEN NEW.deleted_at IS NULL AND NEW.status IN ('pending', 'paused', 'running')
                                            THEN NEW.dedupe_key END;
                RETURN NEW;
            END
            $$;
            DROP TRIGGER IF EXISTS tasks_version ON tasks;
            DROP TRIGGER IF EXISTS tasks_before_update ON tasks;
            DROP TRIGGER IF EXISTS tasks_before_insert ON tasks;
            CREATE TRIGGER tasks_before_update BEFORE UPDATE ON tasks FOR EACH ROW EXECUTE FUNCTION tasks_before_write();
            -- Only a task with a dedupe key has anything to set when it is created.
            CREATE TRIGGER tasks_before_insert BEFORE INSERT ON tasks FOR EACH ROW WHEN (NEW.dedupe_key IS NOT NULL)
                EXECUTE FUNCTION tasks_before_write();

            -- The keys are looked up through task_states' primary key whatever the planner thinks of the transition
            -- table (= ANY of an array): a statement trigger's plan is cached for the session.
            CREATE OR REPLACE FUNCTION task_states_insert() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO task_states (task_id, status, pending_parents, priority, created_at, updated_at, concurrency_key, deleted_at)
                SELECT id, status, pending_parents, priority, created_at, updated_at, concurrency_key, deleted_at
                FROM inserted_tasks;
                RETURN NULL;
            END
            $$;
            CREATE OR REPLACE FUNCTION task_states_update() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE task_states s
                SET status = n.status, pending_parents = n.pending_parents, priority = n.priority, created_at = n.created_at,
                    updated_at = n.updated_at, concurrency_key = n.concurrency_key, deleted_at = n.deleted_at
                FROM updated_tasks n
                WHERE s.task_id = ANY (ARRAY(SELECT id FROM updated_tasks)) AND s.task_id = n.id;
                RETURN NULL;
            END
            $$;
            CREATE OR REPLACE FUNCTION task_states_delete() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                DELETE FROM task_states s WHERE s.task_id = ANY (ARRAY(SELECT id FROM deleted_tasks));
                RETURN NULL;
            END
            $$;
            DROP TRIGGER IF EXISTS tasks_states_on_insert ON tasks;
            DROP TRIGGER IF EXISTS tasks_states_on_update ON tasks;
            DROP TRIGGER IF EXISTS tasks_states_on_delete ON tasks;
            CREATE TRIGGER tasks_states_on_insert AFTER INSERT ON tasks REFERENCING NEW TABLE AS inserted_tasks
                FOR EACH STATEMENT EXECUTE FUNCTION task_states_insert();
            CREATE TRIGGER tasks_states_on_update AFTER UPDATE ON tasks REFERENCING NEW TABLE AS updated_tasks
                FOR EACH STATEMENT EXECUTE FUNCTION task_states_update();
            CREATE TRIGGER tasks_states_on_delete AFTER DELETE ON tasks REFERENCING OLD TABLE AS deleted_tasks
                FOR EACH STATEMENT EXECUTE FUNCTION task_states_delete();

            -- Room on each page for a new version of every row on it: the engine starts and ends tasks in the order they were
            -- created, so all the rows of a page change together, and each new version must fit beside the old one for the
            -- update to be HOT (at 80, 4 in 10 were; at 50, 98 %: docs/performance.md).
            ALTER TABLE tasks SET (fillfactor = 50);
            COMMIT;
            """);

        // Existing tasks, in committed batches of 5,000 (a DO block at the top level may COMMIT): the copy and the dedupe keys.
        Execute.Sql("""
            DO $$
            DECLARE
                last_id uuid := '00000000-0000-0000-0000-000000000000';
                next_id uuid;
            BEGIN
                LOOP
                    WITH batch AS (
                        SELECT id, status, pending_parents, priority, created_at, updated_at, concurrency_key, deleted_at, dedupe_key
                        FROM tasks WHERE id > last_id ORDER BY id LIMIT 5000
                        FOR SHARE
                    ),
                    copied AS (
                        INSERT INTO task_states (task_id, status, pending_parents, priority, created_at, updated_at, concurrency_key, deleted_at)
                        SELECT id, status, pending_parents, priority, created_at, updated_at, concurrency_key, deleted_at FROM batch
                        ON CONFLICT (task_id) DO NOTHING
                    ),
                    keyed AS (
                        UPDATE tasks t SET live_dedupe_key = b.dedupe_key
                        FROM batch b
                        WHERE t.id = b.id AND b.dedupe_key IS NOT NULL AND b.deleted_at IS NULL
                          AND b.status IN ('pending', 'paused', 'running') AND t.live_dedupe_key IS NULL
                    )
                    SELECT id INTO next_id FROM batch ORDER BY id DESC LIMIT 1;
                    EXIT WHEN next_id IS NULL;
                    last_id := next_id;
                    COMMIT;
                END LOOP;
            END
            $$
            """);

        Execute.Sql("DROP INDEX CONCURRENTLY IF EXISTS tasks_live_dedupe_idx");
        // A dedupe_key is unique among a project's live, unfinished tasks: the database decides concurrent creates.
        Execute.Sql("""
            CREATE UNIQUE INDEX CONCURRENTLY tasks_live_dedupe_idx ON tasks (project_id, live_dedupe_key)
                WHERE live_dedupe_key IS NOT NULL
            """);
        Execute.Sql("DROP INDEX CONCURRENTLY IF EXISTS tasks_dedupe_idx");
        Execute.Sql("ALTER INDEX tasks_live_dedupe_idx RENAME TO tasks_dedupe_idx");
        Execute.Sql("DROP INDEX CONCURRENTLY IF EXISTS tasks_ready_idx");
        Execute.Sql("DROP INDEX CONCURRENTLY IF EXISTS tasks_running_key_idx");
        Execute.Sql("DROP INDEX CONCURRENTLY IF EXISTS tasks_status_sort_idx");
        Execute.Sql("DROP INDEX CONCURRENTLY IF EXISTS tasks_updated_idx");
        Execute.Sql("RESET lock_timeout");
    }

    public override void Down()
    {
        Execute.Sql("SET lock_timeout = '10s'");
        Execute.Sql("DROP INDEX CONCURRENTLY IF EXISTS tasks_updated_idx");
        Execute.Sql("CREATE INDEX CONCURRENTLY tasks_updated_idx ON tasks (updated_at, id)");
        Execute.Sql("DROP INDEX CONCURRENTLY IF EXISTS tasks_status_sort_idx");
        Execute.Sql("CREATE INDEX CONCURRENTLY tasks_status_sort_idx ON tasks (status, id)");
        Execute.Sql("DROP INDEX CONCURRENTLY IF EXISTS tasks_running_key_idx");
        Execute.Sql("CREATE INDEX CONCURRENTLY tasks_running_key_idx ON tasks (concurrency_key) WHERE status = 'running'");
        Execute.Sql("DROP INDEX CONCURRENTLY IF EXISTS tasks_ready_idx");
        Execute.Sql("""
            CREATE INDEX CONCURRENTLY tasks_ready_idx ON tasks (priority DESC, created_at, id)
                WHERE status = 'pending' AND pending_parents = 0 AND deleted_at IS NULL
            """);
        Execute.Sql("DROP INDEX CONCURRENTLY IF EXISTS tasks_status_dedupe_idx");
        Execute.Sql("""
            CREATE UNIQUE INDEX CONCURRENTLY tasks_status_dedupe_idx ON tasks (project_id, dedupe_key)
                WHERE dedupe_key IS NOT NULL AND deleted_at IS NULL AND status IN ('pending', 'paused', 'running')
            """);
        Execute.Sql("DROP INDEX CONCURRENTLY IF EXISTS tasks_dedupe_idx");
        Execute.Sql("ALTER INDEX tasks_status_dedupe_idx RENAME TO tasks_dedupe_idx");
        Execute.Sql("""
            BEGIN;
            DROP TRIGGER tasks_states_on_delete ON tasks;
            DROP TRIGGER tasks_states_on_update ON tasks;
            DROP TRIGGER tasks_states_on_insert ON tasks;
            DROP FUNCTION task_states_delete();
            DROP FUNCTION task_states_update();
            DROP FUNCTION task_states_insert();
            DROP TRIGGER tasks_before_insert ON tasks;
            DROP TRIGGER tasks_before_update ON tasks;
            CREATE TRIGGER tasks_version BEFORE UPDATE ON tasks FOR EACH ROW EXECUTE FUNCTION bump_row_version();
            DROP FUNCTION tasks_before_write();
            ALTER TABLE tasks DROP COLUMN live_dedupe_key;
            ALTER TABLE tasks RESET (fillfactor);
            DROP TABLE task_states;
            COMMIT;
            """);
        Execute.Sql("RESET lock_timeout");
    }
}
