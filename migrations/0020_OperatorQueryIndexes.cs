using FluentMigrator;

namespace TaskRunner.Migrations;

/// <summary>
/// Indexes of <c>tasks</c> justified by the query plans on 1M tasks (docs/performance.md, "Which query uses which index"):
/// the cross-project operator list <c>GET /tasks?kind=…&amp;sort=-priority,created_at</c> gets an index in its order, and
/// <c>tasks_status_created_idx</c>, which no plan used, goes — every engine status change wrote into it.
/// </summary>
/// <remarks>
/// Built and dropped CONCURRENTLY, so a database that holds data keeps taking writes meanwhile; that cannot run in a
/// transaction, hence no transaction and one statement per expression. A lock that cannot be had within
/// <c>lock_timeout</c> fails the migration instead of queueing every writer behind it; the drop before each create makes a
/// rerun after such a failure start clean (a failed concurrent build leaves an invalid index behind).
/// </remarks>
[Migration(20, TransactionBehavior.None, "Operator query indexes")]
public sealed class Migration0020OperatorQueryIndexes : Migration
{
    public override void Up()
    {
        Execute.Sql("SET lock_timeout = '10s'");
        Execute.Sql("DROP INDEX CONCURRENTLY IF EXISTS tasks_kind_priority_created_idx");
        // sort=-priority,created_at (most urgent, oldest first) under kind=: the order of tasks_priority_created_idx
        // within one kind, so a common kind across every project reads one page instead of sorting all its tasks.
        Execute.Sql("CREATE INDEX CONCURRENTLY tasks_kind_priority_created_idx ON tasks (kind, priority DESC, created_at, id)");
        // status= is served by tasks_status_sort_idx (a rare status: read its few rows, then sort) or by the sort
        // index of the order with status as a filter (a common status): no plan chose this one.
        Execute.Sql("DROP INDEX CONCURRENTLY IF EXISTS tasks_status_created_idx");
        Execute.Sql("RESET lock_timeout");
    }

    public override void Down()
    {
        Execute.Sql("SET lock_timeout = '10s'");
        Execute.Sql("DROP INDEX CONCURRENTLY IF EXISTS tasks_status_created_idx");
        Execute.Sql("CREATE INDEX CONCURRENTLY tasks_status_created_idx ON tasks (status, created_at, id)");
        Execute.Sql("DROP INDEX CONCURRENTLY IF EXISTS tasks_kind_priority_created_idx");
        Execute.Sql("RESET lock_timeout");
    }
}
