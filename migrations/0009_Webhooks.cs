using FluentMigrator;

namespace TaskRunner.Migrations;

/// <summary>
/// Webhook delivery: what the delivery workers need on the outbox (the destination host for per-host bounds, the last
/// outcome, leases that expire), every attempt's record, signing secrets with a rotation grace period, reusable action
/// templates, actions a receiver retired with 410 Gone, and the NOTIFY that wakes the workers of every node.
/// </summary>
[Migration(9, "Webhooks")]
public sealed class Migration0009Webhooks : Migration
{
    public override void Up() => Execute.Sql("""
        -- Stored, named actions of a project; a task's action may reference one by id instead of repeating URL and headers.
        -- The trigger is fixed at creation: tasks copy it into their actions, which is what the engine matches on.
        CREATE TABLE action_templates (
            id              uuid PRIMARY KEY,
            project_id      uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
            name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
            trigger         text NOT NULL CHECK (trigger IN ('start', 'success', 'failure', 'cancel', 'timeout', 'end')),
            url             text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
            method          text NOT NULL DEFAULT 'POST' CHECK (method IN ('POST', 'PUT', 'PATCH')),
            headers         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(headers) = 'object'),
            -- Set when a receiver answered 410 Gone: deliveries through the template are not sent until it is updated.
            disabled_at     timestamptz,
            disabled_reason text CHECK (length(disabled_reason) <= 500),
            created_by      uuid REFERENCES users (id) ON DELETE SET NULL,
            created_at      timestamptz NOT NULL DEFAULT now(),
            updated_at      timestamptz NOT NULL DEFAULT now(),
            deleted_at      timestamptz,
            CHECK ((disabled_at IS NULL) = (disabled_reason IS NULL))
        );
        CREATE UNIQUE INDEX action_templates_name_idx ON action_templates (project_id, name) WHERE deleted_at IS NULL;
        CREATE INDEX action_templates_list_idx ON action_templates (created_at DESC, id DESC) WHERE deleted_at IS NULL;

        -- A task action {"template_id": …} must name a live template of the task's project (so a caller who may write the task
        -- may read the template); its trigger is copied in, because the engine matches actions on their trigger. Checked on
        -- every write of actions or of the project, whichever path writes them (create, bulk, patch, schedules).
        CREATE FUNCTION tasks_resolve_action_templates() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            resolved jsonb := '[]';
            item jsonb;
            template_trigger text;
        BEGIN
            IF NOT jsonb_path_exists(NEW.actions, '$[*].template_id') THEN
                RETURN NEW;
            END IF;
            FOR item IN SELECT value FROM jsonb_array_elements(NEW.actions) LOOP
                IF item ? 'template_id' THEN
                    SELECT a.trigger INTO template_trigger FROM action_templates a
                    WHERE a.id = (item->>'template_id')::uuid AND a.project_id = NEW.project_id AND a.deleted_at IS NULL;
                    IF NOT FOUND THEN
                        RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'tasks_actions_template',
                            MESSAGE = format('%s is not an action template of the task''s project', item->>'template_id');
                    END IF;
                    item := item || jsonb_build_object('trigger', template_trigger);
                END IF;
                resolved := resolved || jsonb_build_array(item);
            END LOOP;
            NEW.actions := resolved;
            RETURN NEW;
        END
        $$;
        CREATE TRIGGER tasks_resolve_action_templates BEFORE INSERT OR UPDATE OF actions, project_id ON tasks
            FOR EACH ROW EXECUTE FUNCTION tasks_resolve_action_templates();

        -- Signing secrets (Standard Webhooks, "whsec_" + base64): one per template, one per project for the inline actions
        -- of its tasks. Stored as is, because signing needs the key itself. A rotation gives the old secret a retires_at in
        -- the future: until then deliveries carry both signatures, so receivers can switch without losing any.
        CREATE TABLE webhook_secrets (
            id          uuid PRIMARY KEY,
            template_id uuid REFERENCES action_templates (id) ON DELETE CASCADE,
            project_id  uuid REFERENCES projects (id) ON DELETE CASCADE,
            secret      text NOT NULL CHECK (secret LIKE 'whsec\_%'),
            created_at  timestamptz NOT NULL DEFAULT now(),
            retires_at  timestamptz,
            CHECK ((template_id IS NULL) <> (project_id IS NULL))
        );
        CREATE INDEX webhook_secrets_template_idx ON webhook_secrets (template_id, created_at DESC) WHERE template_id IS NOT NULL;
        CREATE INDEX webhook_secrets_project_idx ON webhook_secrets (project_id, created_at DESC) WHERE project_id IS NOT NULL;

        -- Inline actions whose receiver answered 410 Gone: that task's later deliveries to the URL are not sent.
        CREATE TABLE disabled_actions (
            task_id     uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
            url         text NOT NULL,
            disabled_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (task_id, url)
        );

        ALTER TABLE outbox
            ADD COLUMN template_id      uuid REFERENCES action_templates (id) ON DELETE SET NULL,
            -- The destination's host, lower case: the per-host in-flight bound and metrics group by it.
            ADD COLUMN host             text,
            ADD COLUMN last_status_code integer,
            ADD COLUMN last_error       text CHECK (length(last_error) <= 2000),
            ADD COLUMN delivered_at     timestamptz,
            ADD COLUMN updated_at       timestamptz NOT NULL DEFAULT now();

        -- A delivery through a template is a snapshot: the template's URL, method and headers when the delivery was written
        -- (secrets are read at send time, so a rotation applies to deliveries already queued).
        CREATE FUNCTION outbox_resolve_action() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            template action_templates%ROWTYPE;
        BEGIN
            IF NEW.action ? 'template_id' THEN
                SELECT * INTO template FROM action_templates
                WHERE id = (NEW.action->>'template_id')::uuid AND deleted_at IS NULL;
                IF FOUND THEN
                    NEW.template_id := template.id;
                    NEW.action := NEW.action || jsonb_build_object('url', template.url, 'method', template.method, 'headers', template.headers);
                END IF;
            END IF;
            NEW.host := lower(substring(NEW.action->>'url' FROM '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?(\[[^]]*\]|[^/:?#]*)'));
            RETURN NEW;
        END
        $$;
        CREATE TRIGGER outbox_resolve_action BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION outbox_resolve_action();
        UPDATE outbox SET host = lower(substring(action->>'url' FROM '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?(\[[^]]*\]|[^/:?#]*)'));

        -- Wakes the delivery workers of every node (one LISTEN connection each) when deliveries are written.
        CREATE FUNCTION notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('taskrunner_outbox', '');
            RETURN NULL;
        END
        $$;
        CREATE TRIGGER outbox_notify_on_insert AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION notify_outbox();

        -- Taking back deliveries whose worker died (lease expired).
        CREATE INDEX outbox_leases_idx ON outbox (lease_expires_at) WHERE status = 'delivering';
        -- GET /deliveries?status=dead, newest first.
        CREATE INDEX outbox_dead_idx ON outbox (created_at DESC, id DESC) WHERE status = 'dead';

        -- Every attempt of every delivery: what the receiver answered, or why nothing came back.
        CREATE TABLE delivery_attempts (
            id               uuid PRIMARY KEY,
            delivery_id      uuid NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
            attempt          integer NOT NULL CHECK (attempt >= 1),
            node             text NOT NULL CHECK (length(node) <= 200),
            started_at       timestamptz NOT NULL,
            duration_ms      double precision NOT NULL CHECK (duration_ms >= 0),
            status_code      integer CHECK (status_code BETWEEN 100 AND 599),
            error            text CHECK (length(error) <= 2000),
            -- At most 1 KiB of UTF-8, cut by the worker.
            response_excerpt text CHECK (octet_length(response_excerpt) <= 1024)
        );
        CREATE INDEX delivery_attempts_delivery_idx ON delivery_attempts (delivery_id, started_at);
        """);

    public override void Down() => Execute.Sql("""
        DROP TABLE delivery_attempts;
        DROP INDEX outbox_dead_idx;
        DROP INDEX outbox_leases_idx;
        DROP TRIGGER outbox_notify_on_insert ON outbox;
        DROP FUNCTION notify_outbox();
        DROP TRIGGER outbox_resolve_action ON outbox;
        DROP FUNCTION outbox_resolve_action();
        ALTER TABLE outbox DROP COLUMN template_id, DROP COLUMN host, DROP COLUMN last_status_code, DROP COLUMN last_error,
            DROP COLUMN delivered_at, DROP COLUMN updated_at;
        DROP TABLE disabled_actions;
        DROP TRIGGER tasks_resolve_action_templates ON tasks;
        DROP FUNCTION tasks_resolve_action_templates();
        DROP TABLE webhook_secrets;
        DROP TABLE action_templates;
        """);
}
