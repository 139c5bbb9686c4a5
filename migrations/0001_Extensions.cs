using FluentMigrator;

namespace TaskRunner.Migrations;

/// <summary>Extensions the later schema relies on: trigram matching for typo-tolerant search.</summary>
[Migration(1, "Extensions")]
public sealed class Migration0001Extensions : Migration
{
    public override void Up() => Execute.Sql("CREATE EXTENSION IF NOT EXISTS pg_trgm;");

    public override void Down() => Execute.Sql("DROP EXTENSION IF EXISTS pg_trgm;");
}
