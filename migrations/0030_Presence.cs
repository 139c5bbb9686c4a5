using FluentMigrator;

namespace TaskRunner.Migrations;

/// <summary>
/// Presence: one row per open WebSocket, keyed by the node that holds it, with the task it views. A user is online while
/// any row of theirs exists, anywhere in the cluster. Statement-level triggers turn each change of the rows into events
/// of the log (migration 23), in the change's transaction: <c>user.online</c>/<c>user.offline</c> to each live project
/// the user is a member of when their first row appears or their last goes, <c>task.viewer_joined</c>/<c>task.viewer_left</c>
/// when a user starts or stops viewing a task from any socket. The triggers compare what the rows hold after the statement
/// (read afresh) with what the statement changed, so the writers lock the users concerned first
/// (<c>pg_advisory_xact_lock(1886545267, hashtext(user_id::text))</c>, before writing anything): changes of one user are
/// then decided, and ordered in the log, one transaction after another.
/// </summary>
[Migration(30, "Presence")]
public sealed class Migration0030Presence : Migration
{
    public override void Up() => Execute.Sql("""
        CREATE TABLE presence (
            socket_id  uuid PRIMARY KEY,
            node_id    uuid NOT NULL,
            user_id    uuid NOT NULL,
            -- The task the socket views, and its project (the project's readers see the viewer events).
            task_id    uuid,
            project_id uuid,
            opened_at  timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT presence_view_check CHECK ((task_id IS NULL) = (project_id IS NULL))
        );
        -- A dead node's rows are reaped by node.
        CREATE INDEX presence_node_idx ON presence (node_id);
        CREATE INDEX presence_user_idx ON presence (user_id);
        CREATE INDEX presence_project_idx ON presence (project_id) WHERE project_id IS NOT NULL;

        -- Each change: a user, the task (and project) a row views, +1 for a row that appeared, -1 for one that went.
        CREATE FUNCTION announce_presence(changed_users uuid[], changed_projects uuid[], changed_tasks uuid[], deltas int[])
        RETURNS void LANGUAGE plpgsql AS $$
        DECLARE last_id bigint;
        BEGIN
            WITH changes AS (
                SELECT * FROM unnest(changed_users, changed_projects, changed_tasks, deltas) AS c (user_id, project_id, task_id, delta)
            ),
            users AS (
                SELECT c.user_id, sum(c.delta) AS delta, (SELECT count(*) FROM presence p WHERE p.user_id = c.user_id) AS held
                FROM changes c
                GROUP BY c.user_id
            ),
            views AS (
                SELECT c.user_id, c.project_id, c.task_id, sum(c.delta) AS delta,
                       (SELECT count(*) FROM presence p WHERE p.user_id = c.user_id AND p.task_id = c.task_id) AS held
                FROM changes c
                WHERE c.task_id IS NOT NULL
                GROUP BY c.user_id, c.project_id, c.task_id
            ),
            announced AS (
                SELECT CASE WHEN v.held > 0 THEN 'task.viewer_joined' ELSE 'task.viewer_left' END AS type,
                       v.project_id, v.task_id, v.user_id, CASE WHEN v.held > 0 THEN 1 ELSE 0 END AS rank
                FROM views v
                WHERE (v.held > 0) <> (v.held - v.delta > 0)
                UNION ALL
                SELECT CASE WHEN u.held > 0 THEN 'user.online' ELSE 'user.offline' END, m.project_id, NULL::uuid, u.user_id, 2
                FROM users u
                JOIN project_members m ON m.user_id = u.user_id
                JOIN projects p ON p.id = m.project_id AND p.deleted_at IS NULL
                WHERE (u.held > 0) <> (u.held - u.delta > 0)
            ),
            recorded AS (
                INSERT INTO events (type, project_id, task_id, user_id)
                SELECT type, project_id, task_id, user_id FROM announced ORDER BY rank
                RETURNING id
            )
            SELECT max(id) INTO last_id FROM recorded;
            PERFORM notify_events(last_id);
        END
        $$;

        CREATE FUNCTION record_presence_inserts() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM announce_presence(array_agg(user_id), array_agg(project_id), array_agg(task_id), array_agg(1)) FROM new_rows;
            RETURN NULL;
        END
        $$;
        CREATE FUNCTION record_presence_updates() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM announce_presence(array_agg(user_id), array_agg(project_id), array_agg(task_id), array_agg(delta))
            FROM (SELECT user_id, project_id, task_id, -1 AS delta FROM old_rows
                  UNION ALL SELECT user_id, project_id, task_id, 1 FROM new_rows) changes;
            RETURN NULL;
        END
        $$;
        CREATE FUNCTION record_presence_deletions() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM announce_presence(array_agg(user_id), array_agg(project_id), array_agg(task_id), array_agg(-1)) FROM old_rows;
            RETURN NULL;
        END
        $$;
        CREATE TRIGGER presence_events_on_insert AFTER INSERT ON presence REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION record_presence_inserts();
        CREATE TRIGGER presence_events_on_update AFTER UPDATE ON presence REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION record_presence_updates();
        CREATE TRIGGER presence_events_on_delete AFTER DELETE ON presence REFERENCING OLD TABLE AS old_rows
            FOR EACH STATEMENT EXECUTE FUNCTION record_presence_deletions();
        """);

    public override void Down() => Execute.Sql("""
        DROP TABLE presence;
        DROP FUNCTION record_presence_deletions();
        DROP FUNCTION record_presence_updates();
        DROP FUNCTION record_presence_inserts();
        DROP FUNCTION announce_presence(uuid[], uuid[], uuid[], int[]);
        """);
}
