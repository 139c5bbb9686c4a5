using FluentMigrator;

namespace TaskRunner.Migrations;

/// <summary>
/// A fifth kind of graph walk: a permanent delete with <c>cascade=true</c> walks like the soft delete cascade (stamping the
/// live descendants, so they are out of every read at once) and removes each task's row once all its children were
/// visited, in the same bounded batches. Like the other cascades it names its project, stamp and audit row.
/// </summary>
[Migration(25, "PurgeGraphWalks")]
public sealed class Migration0025PurgeGraphWalks : Migration
{
    public override void Up() => Execute.Sql("""
        ALTER TABLE graph_walks
            DROP CONSTRAINT graph_walks_kind_check,
            ADD CONSTRAINT graph_walks_kind_check CHECK (kind IN ('propagate', 'revive', 'delete', 'restore', 'purge')),
            DROP CONSTRAINT graph_walks_cascade_check,
            ADD CONSTRAINT graph_walks_cascade_check
                CHECK ((kind IN ('delete', 'restore', 'purge')) = (project_id IS NOT NULL AND stamp IS NOT NULL AND audit_id IS NOT NULL));
        """);

    public override void Down() => Execute.Sql("""
        DELETE FROM graph_walks WHERE kind = 'purge';
        ALTER TABLE graph_walks
            DROP CONSTRAINT graph_walks_cascade_check,
            ADD CONSTRAINT graph_walks_cascade_check
                CHECK ((kind IN ('delete', 'restore')) = (project_id IS NOT NULL AND stamp IS NOT NULL AND audit_id IS NOT NULL)),
            DROP CONSTRAINT graph_walks_kind_check,
            ADD CONSTRAINT graph_walks_kind_check CHECK (kind IN ('propagate', 'revive', 'delete', 'restore'));
        """);
}
