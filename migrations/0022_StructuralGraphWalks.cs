using FluentMigrator;

namespace TaskRunner.Migrations;

/// <summary>
/// Graph walks of more kinds than failure propagation (migration 18): a retry's revival, and the delete and restore
/// cascades. One walk table and one frontier for all, told apart by <c>kind</c>; a task is in at most one frontier of
/// each kind. A delete or restore walk knows its project (a second cascade in that project finishes it first), the
/// <c>deleted_at</c> it sets or undoes, and the audit row of the request that started it (each continuing batch writes
/// one like it for the tasks it changed). A revive frontier task carries <c>bound</c>: the last child its own end had
/// released when the walk took it from a propagation walk still running (null: not yet taken).
/// </summary>
[Migration(22, "StructuralGraphWalks")]
public sealed class Migration0022StructuralGraphWalks : Migration
{
    public override void Up() => Execute.Sql("""
        ALTER TABLE graph_walks
            ADD COLUMN kind text NOT NULL DEFAULT 'propagate' CHECK (kind IN ('propagate', 'revive', 'delete', 'restore')),
            ADD COLUMN project_id uuid REFERENCES projects (id) ON DELETE CASCADE,
            ADD COLUMN stamp timestamptz,
            ADD COLUMN audit_id uuid,
            ADD CONSTRAINT graph_walks_cascade_check
                CHECK ((kind IN ('delete', 'restore')) = (project_id IS NOT NULL AND stamp IS NOT NULL AND audit_id IS NOT NULL)),
            ADD CONSTRAINT graph_walks_id_kind_key UNIQUE (id, kind);
        CREATE INDEX graph_walks_project_idx ON graph_walks (project_id) WHERE project_id IS NOT NULL;

        ALTER TABLE graph_walk_frontier
            ADD COLUMN kind text NOT NULL DEFAULT 'propagate',
            ADD COLUMN bound uuid,
            DROP CONSTRAINT graph_walk_frontier_pkey,
            ADD PRIMARY KEY (kind, task_id),
            DROP CONSTRAINT graph_walk_frontier_walk_id_fkey,
            ADD CONSTRAINT graph_walk_frontier_walk_fkey FOREIGN KEY (walk_id, kind) REFERENCES graph_walks (id, kind) ON DELETE CASCADE;
        """);

    public override void Down() => Execute.Sql("""
        DELETE FROM graph_walks WHERE kind <> 'propagate';
        ALTER TABLE graph_walk_frontier
            DROP CONSTRAINT graph_walk_frontier_walk_fkey,
            DROP CONSTRAINT graph_walk_frontier_pkey,
            ADD PRIMARY KEY (task_id),
            ADD CONSTRAINT graph_walk_frontier_walk_id_fkey FOREIGN KEY (walk_id) REFERENCES graph_walks (id) ON DELETE CASCADE,
            DROP COLUMN bound,
            DROP COLUMN kind;
        DROP INDEX graph_walks_project_idx;
        ALTER TABLE graph_walks
            DROP CONSTRAINT graph_walks_id_kind_key,
            DROP CONSTRAINT graph_walks_cascade_check,
            DROP COLUMN audit_id,
            DROP COLUMN stamp,
            DROP COLUMN project_id,
            DROP COLUMN kind;
        """);
}
