using FluentMigrator;

namespace TaskRunner.Migrations;

/// <summary>
/// The node registry (every running service node and which one leads) and cron schedules with their fire log. The fire
/// log's primary key, one row per schedule and fire time, is what makes a fire happen exactly once however many nodes
/// run the scheduler and however leadership changes hands.
/// </summary>
[Migration(7, "Schedules and nodes")]
public sealed class Migration0007SchedulesAndNodes : Migration
{
    public override void Up() => Execute.Sql("""
        -- One row per process start (a restarted node is a new node). The advisory lock decides who leads; leader_since
        -- only reports it, written by the lock holder, so it can be stale for a dead leader until another takes over.
        CREATE TABLE nodes (
            id                uuid PRIMARY KEY,
            name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
            version           text NOT NULL CHECK (length(version) BETWEEN 1 AND 100),
            started_at        timestamptz NOT NULL,
            last_heartbeat_at timestamptz NOT NULL DEFAULT now(),
            leader_since      timestamptz,
            stopped_at        timestamptz,
            CHECK (stopped_at IS NULL OR leader_since IS NULL)
        );
        -- At most one node reports itself leader.
        CREATE UNIQUE INDEX nodes_leader_idx ON nodes ((true)) WHERE leader_since IS NOT NULL;
        -- The heartbeat purges nodes silent for a long time.
        CREATE INDEX nodes_heartbeat_idx ON nodes (last_heartbeat_at);

        CREATE TABLE schedules (
            id               uuid PRIMARY KEY,
            project_id       uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
            created_by       uuid NOT NULL REFERENCES users (id),
            cron             text NOT NULL CHECK (length(cron) BETWEEN 1 AND 200),
            timezone         text NOT NULL CHECK (length(timezone) BETWEEN 1 AND 100),
            -- The create-task body minus project_id (and minus ref, depends_on, dedupe_key, scheduled_at).
            task_template    jsonb NOT NULL CHECK (jsonb_typeof(task_template) = 'object'),
            enabled          boolean NOT NULL DEFAULT true,
            overlap_policy   text NOT NULL DEFAULT 'skip' CHECK (overlap_policy IN ('skip', 'allow')),
            catch_up_seconds integer NOT NULL DEFAULT 300 CHECK (catch_up_seconds BETWEEN 0 AND 604800),
            -- Null while disabled or when the expression has no future occurrence.
            next_fire_at     timestamptz,
            last_fire_at     timestamptz,
            created_at       timestamptz NOT NULL DEFAULT now(),
            updated_at       timestamptz NOT NULL DEFAULT now(),
            deleted_at       timestamptz,
            version          bigint NOT NULL DEFAULT 1,
            CHECK (enabled OR next_fire_at IS NULL),
            CHECK (deleted_at IS NULL OR NOT enabled)
        );
        CREATE TRIGGER schedules_version BEFORE UPDATE ON schedules FOR EACH ROW EXECUTE FUNCTION bump_row_version();
        -- The scheduler: the due schedules, soonest first, and the time of the next one.
        CREATE INDEX schedules_due_idx ON schedules (next_fire_at) WHERE next_fire_at IS NOT NULL;
        -- GET /schedules (newest first, keyset), and a project's schedules.
        CREATE INDEX schedules_list_idx ON schedules (created_at DESC, id DESC) WHERE deleted_at IS NULL;
        CREATE INDEX schedules_project_idx ON schedules (project_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;

        -- Exactly once per fire time: whichever node inserts the row first creates the task, in the same transaction;
        -- every other attempt (a racing node, a new leader replaying a tick) conflicts and does nothing.
        CREATE TABLE schedule_fires (
            schedule_id uuid NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
            fire_time   timestamptz NOT NULL,
            status      text NOT NULL CHECK (status IN ('created', 'skipped')),
            -- skipped: overlap (the previous task is unfinished), missed (older than the catch-up window),
            -- invalid_template (the template no longer passes the task rules).
            reason      text CHECK (reason IN ('overlap', 'missed', 'invalid_template')),
            -- Deferred: the fire row goes in first (it is the claim on the fire time), its task right after.
            task_id     uuid REFERENCES tasks (id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED,
            recorded_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (schedule_id, fire_time),
            CHECK ((status = 'skipped') = (reason IS NOT NULL)),
            CHECK (status = 'created' OR task_id IS NULL)
        );
        -- The overlap check: the schedule's latest created fire.
        CREATE INDEX schedule_fires_created_idx ON schedule_fires (schedule_id, fire_time DESC) WHERE status = 'created';
        """);

    public override void Down() => Execute.Sql("""
        DROP TABLE schedule_fires;
        DROP TABLE schedules;
        DROP TABLE nodes;
        """);
}
