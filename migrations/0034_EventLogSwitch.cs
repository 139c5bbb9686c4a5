using FluentMigrator;

namespace TaskRunner.Migrations;

/// <summary>
/// One switch for the event log (migrations 23 and 30): its triggers fire unless the writing session has set
/// <c>taskrunner.event_log = 'off'</c>, which a node with <c>Events:Enabled=false</c> puts on every connection it opens
/// (docs/realtime.md). A session that never set it — the migrator, psql, another tool — writes events as before. The
/// condition is the triggers' own <c>WHEN</c>, so with the log off no trigger function runs at all.
/// </summary>
[Migration(34, "Event log switch")]
public sealed class Migration0034EventLogSwitch : Migration
{
    private const string Enabled = "WHEN (current_setting('taskrunner.event_log', true) IS DISTINCT FROM 'off')";

    public override void Up() => Execute.Sql($"""
        SET LOCAL lock_timeout = '10s';
        {Triggers(Enabled)}
        """);

    public override void Down() => Execute.Sql($"""
        SET LOCAL lock_timeout = '10s';
        {Triggers("")}
        """);

    private static string Triggers(string condition) => $"""
        DROP TRIGGER tasks_events_on_insert ON tasks;
        CREATE TRIGGER tasks_events_on_insert AFTER INSERT ON tasks REFERENCING NEW TABLE AS inserted_tasks
            FOR EACH STATEMENT {condition} EXECUTE FUNCTION record_task_inserts();
        DROP TRIGGER tasks_events_on_update ON tasks;
        CREATE TRIGGER tasks_events_on_update AFTER UPDATE ON tasks REFERENCING OLD TABLE AS old_tasks NEW TABLE AS new_tasks
            FOR EACH STATEMENT {condition} EXECUTE FUNCTION record_task_updates();

        DROP TRIGGER task_comments_events_on_insert ON task_comments;
        CREATE TRIGGER task_comments_events_on_insert AFTER INSERT ON task_comments REFERENCING NEW TABLE AS new_comments
            FOR EACH STATEMENT {condition} EXECUTE FUNCTION record_comment_inserts();
        DROP TRIGGER task_comments_events_on_update ON task_comments;
        CREATE TRIGGER task_comments_events_on_update AFTER UPDATE ON task_comments
            REFERENCING OLD TABLE AS old_comments NEW TABLE AS new_comments
            FOR EACH STATEMENT {condition} EXECUTE FUNCTION record_comment_deletions();

        DROP TRIGGER project_members_events_on_insert ON project_members;
        CREATE TRIGGER project_members_events_on_insert AFTER INSERT ON project_members REFERENCING NEW TABLE AS new_members
            FOR EACH STATEMENT {condition} EXECUTE FUNCTION record_member_changes();
        DROP TRIGGER project_members_events_on_update ON project_members;
        CREATE TRIGGER project_members_events_on_update AFTER UPDATE ON project_members
            REFERENCING OLD TABLE AS old_members NEW TABLE AS new_members
            FOR EACH STATEMENT {condition} EXECUTE FUNCTION record_member_changes();
        DROP TRIGGER project_members_events_on_delete ON project_members;
        CREATE TRIGGER project_members_events_on_delete AFTER DELETE ON project_members REFERENCING OLD TABLE AS old_members
            FOR EACH STATEMENT {condition} EXECUTE FUNCTION record_member_changes();

        DROP TRIGGER presence_events_on_insert ON presence;
        CREATE TRIGGER presence_events_on_insert AFTER INSERT ON presence REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT {condition} EXECUTE FUNCTION record_presence_inserts();
        DROP TRIGGER presence_events_on_update ON presence;
        CREATE TRIGGER presence_events_on_update AFTER UPDATE ON presence REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
            FOR EACH STATEMENT {condition} EXECUTE FUNCTION record_presence_updates();
        DROP TRIGGER presence_events_on_delete ON presence;
        CREATE TRIGGER presence_events_on_delete AFTER DELETE ON presence REFERENCING OLD TABLE AS old_rows
            FOR EACH STATEMENT {condition} EXECUTE FUNCTION record_presence_deletions();
        """;
}
