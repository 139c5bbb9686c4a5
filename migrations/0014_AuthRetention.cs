using FluentMigrator;

namespace TaskRunner.Migrations;

/// <summary>Indexes the authentication retention sweep finds its rows through: ended sessions, used refresh tokens, stale failure counts.</summary>
[Migration(14, "AuthRetention")]
public sealed class Migration0014AuthRetention : Migration
{
    public override void Up() => Execute.Sql("""
        CREATE INDEX sessions_expires_idx ON sessions (expires_at);
        CREATE INDEX sessions_revoked_idx ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
        CREATE INDEX refresh_tokens_used_idx ON refresh_tokens (used_at) WHERE used_at IS NOT NULL;
        CREATE INDEX login_failures_by_ip_window_idx ON login_failures_by_ip (window_start);
        """);

    public override void Down() => Execute.Sql("""
        DROP INDEX login_failures_by_ip_window_idx;
        DROP INDEX refresh_tokens_used_idx;
        DROP INDEX sessions_revoked_idx;
        DROP INDEX sessions_expires_idx;
        """);
}
