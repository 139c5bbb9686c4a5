using FluentMigrator;

namespace TaskRunner.Migrations;

/// <summary>
/// The lifecycle engine: leases of claimed tasks (narrow, so heartbeats never rewrite the wide task row), concurrency
/// rules, the webhook outbox, the ready-queue index and the NOTIFY that wakes long-polling workers.
/// </summary>
[Migration(6, "Engine")]
public sealed class Migration0006Engine : Migration
{
    public override void Up() => Execute.Sql("""
        -- UUIDv7 (time-ordered, like the ids the service generates) for rows inserted set-based in SQL: outbox deliveries.
        CREATE FUNCTION uuid_v7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
            SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
                       PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                       FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
        $$;

        -- Fencing tokens: every claim (and reclaim) takes a new, larger number, so a worker whose lease was taken over holds
        -- a token that no longer matches and its reports change nothing.
        CREATE SEQUENCE task_lease_tokens;

        CREATE TABLE task_leases (
            task_id       uuid PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
            lease_token   bigint NOT NULL DEFAULT nextval('task_lease_tokens'),
            worker        text CHECK (length(worker) <= 200),
            lease_seconds integer NOT NULL CHECK (lease_seconds BETWEEN 1 AND 86400),
            claimed_at    timestamptz NOT NULL DEFAULT now(),
            expires_at    timestamptz NOT NULL,
            heartbeat_at  timestamptz,
            -- started_at + timeout_seconds, pushed forward by heartbeats; null when the task has no timeout.
            timeout_at    timestamptz
        );
        -- Claim: reclaiming expired leases; the sweeper (next issue): expired leases and passed deadlines.
        CREATE INDEX task_leases_expires_idx ON task_leases (expires_at);
        CREATE INDEX task_leases_timeout_idx ON task_leases (timeout_at) WHERE timeout_at IS NOT NULL;

        -- At most max_running tasks with this key run at once. Enforced by claimers, which lock the rule row and then count
        -- the key's running tasks (tasks_running_key_idx) in a fresh snapshot: no counter to drift, and a rule created
        -- while tasks already run simply admits nothing new until they are below the limit.
        CREATE TABLE concurrency_rules (
            id              uuid PRIMARY KEY,
            concurrency_key text NOT NULL UNIQUE CHECK (length(concurrency_key) BETWEEN 1 AND 200),
            max_running     integer NOT NULL CHECK (max_running BETWEEN 1 AND 100000),
            created_by      uuid REFERENCES users (id) ON DELETE SET NULL,
            created_at      timestamptz NOT NULL DEFAULT now()
        );

        -- Webhook deliveries, written in the transaction of the change that causes them; delivered by the next issue's
        -- workers (claim with FOR UPDATE SKIP LOCKED and a lease).
        CREATE TABLE outbox (
            id               uuid PRIMARY KEY,
            task_id          uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
            trigger          text NOT NULL CHECK (trigger IN ('start', 'success', 'failure', 'cancel', 'timeout', 'end')),
            action           jsonb NOT NULL CHECK (jsonb_typeof(action) = 'object'),
            payload          jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
            status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivering', 'delivered', 'dead')),
            attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            next_attempt_at  timestamptz NOT NULL DEFAULT now(),
            created_at       timestamptz NOT NULL DEFAULT now(),
            lease_owner      text,
            lease_expires_at timestamptz,
            CHECK ((status = 'delivering') = (lease_expires_at IS NOT NULL))
        );
        -- Delivery workers: the due pending rows, oldest first; GET /tasks/{id}/deliveries.
        CREATE INDEX outbox_due_idx ON outbox (next_attempt_at) WHERE status = 'pending';
        CREATE INDEX outbox_task_idx ON outbox (task_id, created_at);

        -- The ready queue of POST /tasks/claim, in claim order (priority, then age, then id); scheduled_at and the kind are
        -- filtered while walking it.
        CREATE INDEX tasks_ready_idx ON tasks (priority DESC, created_at, id)
            WHERE status = 'pending' AND pending_parents = 0 AND deleted_at IS NULL;
        -- Counting a key's running tasks (claim admission, waiting_on); reclaiming expired leases joins running tasks.
        CREATE INDEX tasks_running_key_idx ON tasks (concurrency_key) WHERE status = 'running';

        -- Wakes long-polling claimers (one LISTEN connection per node) whenever a statement leaves a task ready: creation,
        -- a completion releasing children, resume, retry. NOTIFY is delivered at commit and deduplicated per transaction.
        CREATE FUNCTION notify_tasks_ready() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (SELECT FROM changed_tasks WHERE status = 'pending' AND pending_parents = 0 AND deleted_at IS NULL) THEN
                PERFORM pg_notify('taskrunner_ready', '');
            END IF;
            RETURN NULL;
        END
        $$;
        CREATE TRIGGER tasks_ready_on_insert AFTER INSERT ON tasks REFERENCING NEW TABLE AS changed_tasks
            FOR EACH STATEMENT EXECUTE FUNCTION notify_tasks_ready();
        CREATE TRIGGER tasks_ready_on_update AFTER UPDATE ON tasks REFERENCING NEW TABLE AS changed_tasks
            FOR EACH STATEMENT EXECUTE FUNCTION notify_tasks_ready();
        """);

    public override void Down() => Execute.Sql("""
        DROP TRIGGER tasks_ready_on_update ON tasks;
        DROP TRIGGER tasks_ready_on_insert ON tasks;
        DROP FUNCTION notify_tasks_ready();
        DROP INDEX tasks_running_key_idx;
        DROP INDEX tasks_ready_idx;
        DROP TABLE outbox;
        DROP TABLE concurrency_rules;
        DROP TABLE task_leases;
        DROP SEQUENCE task_lease_tokens;
        DROP FUNCTION uuid_v7();
        """);
}
