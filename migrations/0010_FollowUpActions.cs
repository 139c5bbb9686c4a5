using FluentMigrator;

namespace TaskRunner.Migrations;

/// <summary>
/// Conditional follow-up actions: a delivery whose answer matched a follow-up's condition writes the follow-up to the
/// outbox as a delivery of its own (trigger <c>follow_up</c>), linked to the delivery that caused it; follow-ups may
/// reference action templates, which must belong to the task's project like any other action's.
/// </summary>
[Migration(10, "Follow-up actions")]
public sealed class Migration0010FollowUpActions : Migration
{
    public override void Up() => Execute.Sql("""
        ALTER TABLE outbox DROP CONSTRAINT outbox_trigger_check;
        ALTER TABLE outbox ADD CONSTRAINT outbox_trigger_check
            CHECK (trigger IN ('start', 'success', 'failure', 'cancel', 'timeout', 'end', 'follow_up'));
        ALTER TABLE outbox ADD COLUMN follow_up_of uuid REFERENCES outbox (id) ON DELETE CASCADE;
        -- Deleting a delivery (with its task) finds its follow-ups through this; only follow-ups have the column set.
        CREATE INDEX outbox_follow_up_of_idx ON outbox (follow_up_of) WHERE follow_up_of IS NOT NULL;

        -- A statement trigger fires even when its INSERT wrote nothing, and the engine's and the delivery workers' statements
        -- carry an INSERT INTO outbox that usually writes nothing (no action for that trigger, no follow-up matched): wake
        -- the delivery workers of every node only when deliveries were written.
        CREATE OR REPLACE FUNCTION notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (SELECT FROM written) THEN
                PERFORM pg_notify('taskrunner_outbox', '');
            END IF;
            RETURN NULL;
        END
        $$;
        DROP TRIGGER outbox_notify_on_insert ON outbox;
        CREATE TRIGGER outbox_notify_on_insert AFTER INSERT ON outbox REFERENCING NEW TABLE AS written
            FOR EACH STATEMENT EXECUTE FUNCTION notify_outbox();

        -- As in migration 9, and a follow-up's template (in an action's "then") must also be a live template of the
        -- task's project; its trigger is not copied (a follow-up fires on an answer, not on a status).
        CREATE OR REPLACE FUNCTION tasks_resolve_action_templates() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            resolved jsonb := '[]';
            item jsonb;
            template_trigger text;
            follow_up_template text;
        BEGIN
            IF NOT jsonb_path_exists(NEW.actions, '$[*].template_id') AND NOT jsonb_path_exists(NEW.actions, '$[*].then[*].template_id') THEN
                RETURN NEW;
            END IF;
            FOR item IN SELECT value FROM jsonb_array_elements(NEW.actions) LOOP
                FOR follow_up_template IN SELECT f->>'template_id' FROM jsonb_array_elements(coalesce(item->'then', '[]')) AS f
                                          WHERE f ? 'template_id' LOOP
                    PERFORM FROM action_templates a
                    WHERE a.id = follow_up_template::uuid AND a.project_id = NEW.project_id AND a.deleted_at IS NULL;
                    IF NOT FOUND THEN
                        RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'tasks_actions_template',
                            MESSAGE = format('%s is not an action template of the task''s project', follow_up_template);
                    END IF;
                END LOOP;
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
        """);

    public override void Down() => Execute.Sql("""
        DROP TRIGGER outbox_notify_on_insert ON outbox;
        CREATE OR REPLACE FUNCTION notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('taskrunner_outbox', '');
            RETURN NULL;
        END
        $$;
        CREATE TRIGGER outbox_notify_on_insert AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION notify_outbox();
        CREATE OR REPLACE FUNCTION tasks_resolve_action_templates() RETURNS trigger LANGUAGE plpgsql AS $$
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
        DELETE FROM outbox WHERE trigger = 'follow_up';
        DROP INDEX outbox_follow_up_of_idx;
        ALTER TABLE outbox DROP COLUMN follow_up_of;
        ALTER TABLE outbox DROP CONSTRAINT outbox_trigger_check;
        ALTER TABLE outbox ADD CONSTRAINT outbox_trigger_check
            CHECK (trigger IN ('start', 'success', 'failure', 'cancel', 'timeout', 'end'));
        """);
}
