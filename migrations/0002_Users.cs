using FluentMigrator;

namespace TaskRunner.Migrations;

/// <summary>Accounts: the bootstrap admin lives here from the start; identity and access build on it.</summary>
[Migration(2, "Users")]
public sealed class Migration0002Users : Migration
{
    public override void Up() => Execute.Sql("""
        CREATE TABLE users (
            id            uuid PRIMARY KEY,
            email         text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 320),
            display_name  text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
            role          text NOT NULL DEFAULT 'member' CHECK (role IN ('admin', 'member', 'viewer')),
            password_hash text NOT NULL,
            disabled      boolean NOT NULL DEFAULT false,
            created_at    timestamptz NOT NULL DEFAULT now(),
            updated_at    timestamptz NOT NULL DEFAULT now(),
            deleted_at    timestamptz
        );
        -- Login looks users up by email; one account per address, deleted ones included (an address is never reused silently).
        CREATE UNIQUE INDEX users_email_key ON users (email);
        """);

    public override void Down() => Execute.Sql("DROP TABLE users;");
}
