using FluentMigrator;

namespace TaskRunner.Migrations;

/// <summary>
/// The write model: projects and their members, tasks with their dependency edges, comments, and the idempotency keys of
/// creating requests. Tasks already carry the columns the lifecycle engine works on (status, schedule, retries, lease
/// counters), so the engine adds behaviour, not a rewrite of the table.
/// </summary>
[Migration(5, "Projects and tasks")]
public sealed class Migration0005ProjectsAndTasks : Migration
{
    public override void Up() => Execute.Sql("""
        -- Bumps version and updated_at on every change, whoever makes it: the strong ETag of a row is its version, so no
        -- writer (API, engine, sweeper) can forget to invalidate it.
        CREATE FUNCTION bump_row_version() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.version := OLD.version + 1;
            NEW.updated_at := now();
            RETURN NEW;
        END
        $$;

        CREATE TABLE projects (
            id          uuid PRIMARY KEY,
            name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
            description text CHECK (length(description) <= 10000),
            created_by  uuid NOT NULL REFERENCES users (id),
            created_at  timestamptz NOT NULL DEFAULT now(),
            updated_at  timestamptz NOT NULL DEFAULT now(),
            deleted_at  timestamptz,
            version     bigint NOT NULL DEFAULT 1
        );
        CREATE TRIGGER projects_version BEFORE UPDATE ON projects FOR EACH ROW EXECUTE FUNCTION bump_row_version();
        -- GET /projects?sort=name (keyset on name, id); the retention purge finds deleted rows through the partial index.
        CREATE INDEX projects_name_idx ON projects (name, id) WHERE deleted_at IS NULL;
        CREATE INDEX projects_deleted_idx ON projects (deleted_at) WHERE deleted_at IS NOT NULL;
        -- GET /projects?q= (substring and typo-tolerant match on the name)
        CREATE INDEX projects_name_trgm_idx ON projects USING gin (name gin_trgm_ops);

        CREATE TABLE project_members (
            project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
            user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            role       text NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
            added_by   uuid REFERENCES users (id) ON DELETE SET NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            -- The access predicate (ProjectAccess) probes (project_id, user_id) on every read: the primary key answers it.
            PRIMARY KEY (project_id, user_id)
        );
        -- "The projects I belong to": the list of a non-admin starts from its memberships.
        CREATE INDEX project_members_user_idx ON project_members (user_id, project_id) INCLUDE (role);

        CREATE TABLE tasks (
            id              uuid PRIMARY KEY,
            project_id      uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
            title           text NOT NULL CHECK (length(title) BETWEEN 1 AND 500),
            description     text CHECK (length(description) <= 20000),
            kind            text NOT NULL DEFAULT 'default' CHECK (kind ~ '^[a-z][a-z0-9_.:-]{0,99}$'),
            status          text NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'paused', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out')),
            priority        smallint NOT NULL DEFAULT 50 CHECK (priority BETWEEN 0 AND 100),
            metadata        jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
            timeout_seconds integer CHECK (timeout_seconds BETWEEN 1 AND 604800),
            scheduled_at    timestamptz,
            max_retries     integer NOT NULL DEFAULT 0 CHECK (max_retries BETWEEN 0 AND 100),
            attempt         integer NOT NULL DEFAULT 0 CHECK (attempt >= 0),
            concurrency_key text CHECK (length(concurrency_key) BETWEEN 1 AND 200),
            batch_id        uuid,
            dedupe_key      text CHECK (length(dedupe_key) BETWEEN 1 AND 200),
            assignee_id     uuid REFERENCES users (id) ON DELETE SET NULL,
            actions         jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(actions) = 'array'),
            output          jsonb,
            error           text CHECK (length(error) <= 10000),
            cancel_reason   text CHECK (cancel_reason IN ('requested', 'upstream_failed', 'batch_cancelled')),
            -- Parents not yet finished as their edge requires: finishing a task decrements only its children.
            pending_parents integer NOT NULL DEFAULT 0 CHECK (pending_parents >= 0),
            created_by      uuid NOT NULL REFERENCES users (id),
            created_at      timestamptz NOT NULL DEFAULT now(),
            updated_at      timestamptz NOT NULL DEFAULT now(),
            started_at      timestamptz,
            ended_at        timestamptz,
            deleted_at      timestamptz,
            version         bigint NOT NULL DEFAULT 1,
            CHECK ((status IN ('succeeded', 'failed', 'cancelled', 'timed_out')) = (ended_at IS NOT NULL)),
            CHECK ((status = 'cancelled') = (cancel_reason IS NOT NULL))
        );
        CREATE TRIGGER tasks_version BEFORE UPDATE ON tasks FOR EACH ROW EXECUTE FUNCTION bump_row_version();
        -- A project's tasks, newest first (the default list of a project; also moving a project's tasks on delete/restore).
        CREATE INDEX tasks_project_idx ON tasks (project_id, created_at DESC, id DESC);
        -- Batch reads and commands: GET /batches/{id}, bulk create's replay, batch cancel/pause/resume.
        CREATE INDEX tasks_batch_idx ON tasks (batch_id) WHERE batch_id IS NOT NULL;
        -- The retention purge walks deleted rows oldest first.
        CREATE INDEX tasks_deleted_idx ON tasks (deleted_at) WHERE deleted_at IS NOT NULL;
        -- A dedupe_key is unique among a project's live, unfinished tasks: the database decides concurrent creates.
        CREATE UNIQUE INDEX tasks_dedupe_idx ON tasks (project_id, dedupe_key)
            WHERE dedupe_key IS NOT NULL AND deleted_at IS NULL AND status IN ('pending', 'paused', 'running');

        CREATE TABLE task_dependencies (
            child_id  uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
            parent_id uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
            -- success: the child runs only if the parent succeeded; completion: once the parent ended, however it ended.
            require   text NOT NULL DEFAULT 'success' CHECK (require IN ('success', 'completion')),
            PRIMARY KEY (child_id, parent_id),
            CHECK (child_id <> parent_id)
        );
        -- Finishing or deleting a task looks up its children.
        CREATE INDEX task_dependencies_parent_idx ON task_dependencies (parent_id, child_id);

        CREATE TABLE task_comments (
            id         uuid PRIMARY KEY,
            task_id    uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
            author_id  uuid NOT NULL REFERENCES users (id),
            body       text NOT NULL CHECK (length(body) BETWEEN 1 AND 10000),
            created_at timestamptz NOT NULL DEFAULT now(),
            deleted_at timestamptz
        );
        -- GET /tasks/{id}/comments, oldest first, keyset on (created_at, id).
        CREATE INDEX task_comments_task_idx ON task_comments (task_id, created_at, id);
        CREATE INDEX task_comments_deleted_idx ON task_comments (deleted_at) WHERE deleted_at IS NOT NULL;

        -- Idempotency-Key of creating POSTs, per caller. The primary key decides between concurrent duplicates; a row
        -- without a status is a request still in flight.
        CREATE TABLE idempotency_keys (
            user_id       uuid NOT NULL,
            key           text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
            request_hash  bytea NOT NULL CHECK (length(request_hash) = 32),
            status_code   integer CHECK (status_code BETWEEN 200 AND 499),
            content_type  text,
            headers       jsonb,
            body          bytea,
            created_at    timestamptz NOT NULL DEFAULT now(),
            expires_at    timestamptz NOT NULL,
            PRIMARY KEY (user_id, key)
        );
        CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);
        """);

    public override void Down() => Execute.Sql("""
        DROP TABLE idempotency_keys;
        DROP TABLE task_comments;
        DROP TABLE task_dependencies;
        DROP TABLE tasks;
        DROP TABLE project_members;
        DROP TABLE projects;
        DROP FUNCTION bump_row_version();
        """);
}
