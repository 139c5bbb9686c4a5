using FluentMigrator;

namespace TaskRunner.Migrations;

/// <summary>
/// A dependency edge never joins two live tasks of different projects. The code refuses such writes with clear problems;
/// these triggers make the database refuse them too, whatever path writes. An edge is checked when it is inserted (once
/// per statement, over the inserted rows), and a task's live edges when it changes project or comes back from a soft
/// delete. The task trigger names its columns and tests OLD/NEW before running, so the engine's updates (status, leases,
/// counters) never fire it. The error is a check violation on the constraint name <c>task_dependencies_within_project</c>.
/// </summary>
[Migration(13, "Dependency edges stay within a project")]
public sealed class Migration0013EdgesWithinProject : Migration
{
    public override void Up() => Execute.Sql("""
        CREATE FUNCTION task_dependencies_within_project() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (SELECT FROM written_edges e
                       JOIN tasks p ON p.id = e.parent_id
                       JOIN tasks c ON c.id = e.child_id
                       WHERE p.project_id <> c.project_id) THEN
                RAISE EXCEPTION 'a dependency edge must join tasks of one project'
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'task_dependencies_within_project';
            END IF;
            RETURN NULL;
        END
        $$;

        CREATE TRIGGER task_dependencies_inserted_within_project
            AFTER INSERT ON task_dependencies REFERENCING NEW TABLE AS written_edges
            FOR EACH STATEMENT EXECUTE FUNCTION task_dependencies_within_project();

        CREATE TRIGGER task_dependencies_updated_within_project
            AFTER UPDATE ON task_dependencies REFERENCING NEW TABLE AS written_edges
            FOR EACH STATEMENT EXECUTE FUNCTION task_dependencies_within_project();

        -- An AFTER row trigger runs at the end of its statement: tasks moved together in one statement are all moved when
        -- it looks, so only an edge that still crosses counts.
        CREATE FUNCTION tasks_edges_within_project() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (SELECT FROM task_dependencies d JOIN tasks o ON o.id = d.child_id
                       WHERE d.parent_id = NEW.id AND o.deleted_at IS NULL AND o.project_id <> NEW.project_id)
               OR EXISTS (SELECT FROM task_dependencies d JOIN tasks o ON o.id = d.parent_id
                          WHERE d.child_id = NEW.id AND o.deleted_at IS NULL AND o.project_id <> NEW.project_id) THEN
                RAISE EXCEPTION 'task % would have a live dependency edge to a task of another project', NEW.id
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'task_dependencies_within_project';
            END IF;
            RETURN NULL;
        END
        $$;

        CREATE TRIGGER tasks_edges_within_project
            AFTER UPDATE OF project_id, deleted_at ON tasks
            FOR EACH ROW
            WHEN (NEW.deleted_at IS NULL AND (OLD.project_id IS DISTINCT FROM NEW.project_id OR OLD.deleted_at IS NOT NULL))
            EXECUTE FUNCTION tasks_edges_within_project();
        """);

    public override void Down() => Execute.Sql("""
        DROP TRIGGER tasks_edges_within_project ON tasks;
        DROP FUNCTION tasks_edges_within_project();
        DROP TRIGGER task_dependencies_updated_within_project ON task_dependencies;
        DROP TRIGGER task_dependencies_inserted_within_project ON task_dependencies;
        DROP FUNCTION task_dependencies_within_project();
        """);
}
