using FluentMigrator;

namespace TaskRunner.Migrations;

/// <summary>
/// The action-template trigger (migrations 9 and 10) runs only for a task that has actions: with an empty list it had
/// nothing to resolve and returned the row unchanged, yet it was called once per row — a thousand PL/pgSQL calls and two
/// thousand JSON path evaluations for a bulk create of a thousand plain tasks. Its <c>WHEN</c> now skips the call.
/// </summary>
/// <remarks>
/// No data is rewritten. <c>CREATE OR REPLACE TRIGGER</c> swaps the trigger under SHARE ROW EXCLUSIVE, which readers (a
/// long export among them) do not conflict with; writers wait at most lock_timeout.
/// </remarks>
[Migration(36, "Skip template resolution without actions")]
public sealed class Migration0036SkipTemplateResolutionWithoutActions : Migration
{
    public override void Up() => Execute.Sql(Trigger("WHEN (NEW.actions <> '[]'::jsonb)"));

    public override void Down() => Execute.Sql(Trigger(""));

    private static string Trigger(string condition) => $"""
        SET LOCAL lock_timeout = '10s';
        CREATE OR REPLACE TRIGGER tasks_resolve_action_templates BEFORE INSERT OR UPDATE OF actions, project_id ON tasks
            FOR EACH ROW {condition} EXECUTE FUNCTION tasks_resolve_action_templates();
        """;
}
