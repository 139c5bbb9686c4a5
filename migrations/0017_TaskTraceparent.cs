using FluentMigrator;

namespace TaskRunner.Migrations;

/// <summary>
/// The W3C traceparent of the request (or schedule fire) that created a task: its webhook sends, its claim and its reports
/// join that trace, so one DAG run can be followed across workers. Nullable, no index: written once, read with the row.
/// </summary>
[Migration(17, "TaskTraceparent")]
public sealed class Migration0017TaskTraceparent : Migration
{
    public override void Up() => Execute.Sql("""
        ALTER TABLE tasks ADD COLUMN traceparent text CHECK (length(traceparent) <= 64);
        """);

    public override void Down() => Execute.Sql("""
        ALTER TABLE tasks DROP COLUMN traceparent;
        """);
}
