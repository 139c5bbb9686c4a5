using FluentMigrator;

namespace TaskRunner.Migrations;

/// <summary>
/// A schedule starts either a task (its template, as before) or a run of a workflow with fixed parameters (version null:
/// the workflow's default version at fire time). A workflow fire records the batch it created; the overlap rule looks at
/// that batch's tasks. <c>invalid_workflow</c>: the workflow was deleted or the parameters no longer validate.
/// </summary>
[Migration(19, "WorkflowSchedules")]
public sealed class Migration0019WorkflowSchedules : Migration
{
    public override void Up() => Execute.Sql("""
        ALTER TABLE schedules
            ALTER COLUMN task_template DROP NOT NULL,
            ADD COLUMN workflow_id uuid REFERENCES workflows (id) ON DELETE CASCADE,
            ADD COLUMN workflow_version integer CHECK (workflow_version >= 1),
            ADD COLUMN workflow_params jsonb CHECK (jsonb_typeof(workflow_params) = 'object'),
            ADD CONSTRAINT schedules_one_target_check CHECK ((task_template IS NULL) <> (workflow_id IS NULL)),
            ADD CONSTRAINT schedules_workflow_fields_check
                CHECK (workflow_id IS NOT NULL OR (workflow_version IS NULL AND workflow_params IS NULL));
        CREATE INDEX schedules_workflow_idx ON schedules (workflow_id) WHERE workflow_id IS NOT NULL;

        ALTER TABLE schedule_fires
            ADD COLUMN batch_id uuid,
            DROP CONSTRAINT schedule_fires_reason_check,
            ADD CONSTRAINT schedule_fires_reason_check
                CHECK (reason IN ('overlap', 'missed', 'invalid_template', 'invalid_workflow')),
            ADD CONSTRAINT schedule_fires_batch_check CHECK (status = 'created' OR batch_id IS NULL);
        """);

    public override void Down() => Execute.Sql("""
        DELETE FROM schedules WHERE workflow_id IS NOT NULL;
        DELETE FROM schedule_fires WHERE reason = 'invalid_workflow';
        ALTER TABLE schedule_fires
            DROP CONSTRAINT schedule_fires_batch_check,
            DROP CONSTRAINT schedule_fires_reason_check,
            ADD CONSTRAINT schedule_fires_reason_check CHECK (reason IN ('overlap', 'missed', 'invalid_template')),
            DROP COLUMN batch_id;
        ALTER TABLE schedules
            DROP CONSTRAINT schedules_workflow_fields_check,
            DROP CONSTRAINT schedules_one_target_check,
            DROP COLUMN workflow_params,
            DROP COLUMN workflow_version,
            DROP COLUMN workflow_id,
            ALTER COLUMN task_template SET NOT NULL;
        """);
}
