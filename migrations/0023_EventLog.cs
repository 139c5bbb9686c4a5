using FluentMigrator;

namespace TaskRunner.Migrations;

/// <summary>
/// The event log that real-time clients read: one row per change of a task, a comment or a project membership, and one
/// per batch and statement whose tasks changed status, written by statement-level triggers in the transaction of the
/// change (so an event exists exactly when its change committed, and a statement that moves thousands of tasks writes
/// their events in one INSERT … SELECT). Each statement NOTIFYs <c>taskrunner_events</c> with its last id only (payloads
/// never approach NOTIFY's 8 KB).
/// </summary>
/// <remarks>
/// Sequence values commit out of order, so <c>id</c> alone is no safe resume point: a transaction that took id 10 may
/// commit after one that took id 11 was read. Each row therefore keeps the id of its transaction (<c>xid</c>, xid8), and
/// readers go in <c>(xid, id)</c> order and only up to the oldest transaction still running
/// (<c>pg_snapshot_xmin(pg_current_snapshot())</c>): every row below it is final, and every row still to commit has a
/// larger xid, so a position <c>(xid, id)</c> once passed is never passed by a late commit.
/// </remarks>
[Migration(23, "Event log")]
public sealed class Migration0023EventLog : Migration
{
    public override void Up() => Execute.Sql("""
        CREATE TABLE events (
            id         bigint GENERATED ALWAYS AS IDENTITY,
            xid        xid8 NOT NULL DEFAULT pg_current_xact_id(),
            at         timestamptz NOT NULL DEFAULT now(),
            type       text NOT NULL,
            project_id uuid NOT NULL,
            task_id    uuid,
            batch_id   uuid,
            -- Membership events: whose access changed.
            user_id    uuid,
            data       jsonb NOT NULL DEFAULT '{}',
            -- The read order and resume position.
            PRIMARY KEY (xid, id)
        );
        -- Retention deletes the oldest rows.
        CREATE INDEX events_at_idx ON events (at);

        CREATE FUNCTION notify_events(last_id bigint) RETURNS void LANGUAGE sql AS $$
            SELECT pg_notify('taskrunner_events', last_id::text) WHERE last_id IS NOT NULL
        $$;

        CREATE FUNCTION record_task_inserts() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE last_id bigint;
        BEGIN
            WITH recorded AS (
                INSERT INTO events (type, project_id, task_id, batch_id, data)
                SELECT 'task.created', project_id, id, batch_id, jsonb_build_object('status', status, 'version', version)
                FROM inserted_tasks
                ORDER BY id
                RETURNING id
            )
            SELECT max(id) INTO last_id FROM recorded;
            PERFORM notify_events(last_id);
            RETURN NULL;
        END
        $$;

        -- Status changes, deletions and restores, edits of what a client shows (not the engine's bookkeeping: counters,
        -- attempts, leases), and per batch how many of its tasks reached each status in this statement.
        CREATE FUNCTION record_task_updates() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE last_id bigint;
        BEGIN
            WITH changes AS (
                SELECT n.id, n.project_id, n.batch_id, n.status, n.version, o.status AS old_status,
                       CASE WHEN n.deleted_at IS NOT NULL AND o.deleted_at IS NULL THEN 'task.deleted'
                            WHEN n.deleted_at IS NULL AND o.deleted_at IS NOT NULL THEN 'task.restored'
                            WHEN n.status <> o.status THEN 'task.status_changed'
                            WHEN (n.title, n.description, n.kind, n.priority, n.metadata, n.timeout_seconds, n.scheduled_at,
                                  n.max_retries, n.concurrency_key, n.assignee_id, n.actions, n.project_id)
                                 IS DISTINCT FROM
                                 (o.title, o.description, o.kind, o.priority, o.metadata, o.timeout_seconds, o.scheduled_at,
                                  o.max_retries, o.concurrency_key, o.assignee_id, o.actions, o.project_id) THEN 'task.updated'
                       END AS type
                FROM new_tasks n
                JOIN old_tasks o ON o.id = n.id
            ),
            recorded AS (
                INSERT INTO events (type, project_id, task_id, batch_id, data)
                SELECT type, project_id, id, batch_id,
                       CASE WHEN type = 'task.status_changed'
                            THEN jsonb_build_object('status', status, 'from', old_status, 'version', version)
                            ELSE jsonb_build_object('status', status, 'version', version) END
                FROM changes WHERE type IS NOT NULL
                UNION ALL
                SELECT 'batch.progress', project_id, NULL, batch_id, jsonb_build_object('statuses', jsonb_object_agg(status, reached))
                FROM (SELECT project_id, batch_id, status, count(*) AS reached FROM changes
                      WHERE batch_id IS NOT NULL AND status <> old_status
                      GROUP BY project_id, batch_id, status) AS progress
                GROUP BY project_id, batch_id
                RETURNING id
            )
            SELECT max(id) INTO last_id FROM recorded;
            PERFORM notify_events(last_id);
            RETURN NULL;
        END
        $$;

        CREATE TRIGGER tasks_events_on_insert AFTER INSERT ON tasks REFERENCING NEW TABLE AS inserted_tasks
            FOR EACH STATEMENT EXECUTE FUNCTION record_task_inserts();
        CREATE TRIGGER tasks_events_on_update AFTER UPDATE ON tasks REFERENCING OLD TABLE AS old_tasks NEW TABLE AS new_tasks
            FOR EACH STATEMENT EXECUTE FUNCTION record_task_updates();

        CREATE FUNCTION record_comment_inserts() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE last_id bigint;
        BEGIN
            WITH recorded AS (
                INSERT INTO events (type, project_id, task_id, data)
                SELECT 'comment.created', t.project_id, c.task_id, jsonb_build_object('comment_id', c.id, 'author_id', c.author_id)
                FROM new_comments c
                JOIN tasks t ON t.id = c.task_id
                ORDER BY c.id
                RETURNING id
            )
            SELECT max(id) INTO last_id FROM recorded;
            PERFORM notify_events(last_id);
            RETURN NULL;
        END
        $$;
        -- A comment changes only when it is deleted (SET deleted_at); the purge of deleted comments is no event.
        CREATE FUNCTION record_comment_deletions() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE last_id bigint;
        BEGIN
            WITH recorded AS (
                INSERT INTO events (type, project_id, task_id, data)
                SELECT 'comment.deleted', t.project_id, n.task_id, jsonb_build_object('comment_id', n.id, 'author_id', n.author_id)
                FROM new_comments n
                JOIN old_comments o ON o.id = n.id
                JOIN tasks t ON t.id = n.task_id
                WHERE n.deleted_at IS NOT NULL AND o.deleted_at IS NULL
                ORDER BY n.id
                RETURNING id
            )
            SELECT max(id) INTO last_id FROM recorded;
            PERFORM notify_events(last_id);
            RETURN NULL;
        END
        $$;
        CREATE TRIGGER task_comments_events_on_insert AFTER INSERT ON task_comments REFERENCING NEW TABLE AS new_comments
            FOR EACH STATEMENT EXECUTE FUNCTION record_comment_inserts();
        CREATE TRIGGER task_comments_events_on_update AFTER UPDATE ON task_comments
            REFERENCING OLD TABLE AS old_comments NEW TABLE AS new_comments
            FOR EACH STATEMENT EXECUTE FUNCTION record_comment_deletions();

        CREATE FUNCTION record_member_changes() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE last_id bigint;
        BEGIN
            IF TG_OP = 'INSERT' THEN
                WITH recorded AS (
                    INSERT INTO events (type, project_id, user_id, data)
                    SELECT 'project.member_added', project_id, user_id, jsonb_build_object('user_id', user_id, 'role', role)
                    FROM new_members
                    RETURNING id
                )
                SELECT max(id) INTO last_id FROM recorded;
            ELSIF TG_OP = 'DELETE' THEN
                WITH recorded AS (
                    INSERT INTO events (type, project_id, user_id, data)
                    SELECT 'project.member_removed', project_id, user_id, jsonb_build_object('user_id', user_id, 'role', role)
                    FROM old_members
                    RETURNING id
                )
                SELECT max(id) INTO last_id FROM recorded;
            ELSE
                WITH recorded AS (
                    INSERT INTO events (type, project_id, user_id, data)
                    SELECT 'project.member_role_changed', n.project_id, n.user_id,
                           jsonb_build_object('user_id', n.user_id, 'role', n.role, 'from', o.role)
                    FROM new_members n
                    JOIN old_members o ON o.project_id = n.project_id AND o.user_id = n.user_id
                    WHERE n.role <> o.role
                    RETURNING id
                )
                SELECT max(id) INTO last_id FROM recorded;
            END IF;
            PERFORM notify_events(last_id);
            RETURN NULL;
        END
        $$;
        CREATE TRIGGER project_members_events_on_insert AFTER INSERT ON project_members REFERENCING NEW TABLE AS new_members
            FOR EACH STATEMENT EXECUTE FUNCTION record_member_changes();
        CREATE TRIGGER project_members_events_on_update AFTER UPDATE ON project_members
            REFERENCING OLD TABLE AS old_members NEW TABLE AS new_members
            FOR EACH STATEMENT EXECUTE FUNCTION record_member_changes();
        CREATE TRIGGER project_members_events_on_delete AFTER DELETE ON project_members REFERENCING OLD TABLE AS old_members
            FOR EACH STATEMENT EXECUTE FUNCTION record_member_changes();
        """);

    public override void Down() => Execute.Sql("""
        DROP TRIGGER project_members_events_on_delete ON project_members;
        DROP TRIGGER project_members_events_on_update ON project_members;
        DROP TRIGGER project_members_events_on_insert ON project_members;
        DROP FUNCTION record_member_changes();
        DROP TRIGGER task_comments_events_on_update ON task_comments;
        DROP TRIGGER task_comments_events_on_insert ON task_comments;
        DROP FUNCTION record_comment_deletions();
        DROP FUNCTION record_comment_inserts();
        DROP TRIGGER tasks_events_on_update ON tasks;
        DROP TRIGGER tasks_events_on_insert ON tasks;
        DROP FUNCTION record_task_updates();
        DROP FUNCTION record_task_inserts();
        DROP FUNCTION notify_events(bigint);
        DROP TABLE events;
        """);
}
