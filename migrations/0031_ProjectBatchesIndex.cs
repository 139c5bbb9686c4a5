using FluentMigrator;

namespace TaskRunner.Migrations;

/// <summary>
/// GET /batches?project_id= lists a project's batches newest first: an index in that order within the project, of live
/// tasks only, so the list reads it alone (index-only) instead of every task of the project. Neither column changes
/// after a task is created, so the engine's updates stay HOT.
/// </summary>
/// <remarks>Built CONCURRENTLY (no transaction), as in migration 20, so a database with data keeps taking writes.</remarks>
[Migration(31, TransactionBehavior.None, "Project batches index")]
public sealed class Migration0031ProjectBatchesIndex : Migration
{
    public override void Up()
    {
        Execute.Sql("SET lock_timeout = '10s'");
        Execute.Sql("DROP INDEX CONCURRENTLY IF EXISTS tasks_project_batch_idx");
        Execute.Sql("CREATE INDEX CONCURRENTLY tasks_project_batch_idx ON tasks (project_id, batch_id) WHERE batch_id IS NOT NULL AND deleted_at IS NULL");
        Execute.Sql("RESET lock_timeout");
    }

    public override void Down()
    {
        Execute.Sql("SET lock_timeout = '10s'");
        Execute.Sql("DROP INDEX CONCURRENTLY IF EXISTS tasks_project_batch_idx");
        Execute.Sql("RESET lock_timeout");
    }
}
