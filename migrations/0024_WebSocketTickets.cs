using FluentMigrator;

namespace TaskRunner.Migrations;

/// <summary>
/// Tickets that open a WebSocket (<c>POST /api/v1/ws/ticket</c>): short-lived, used once, good on any node. Only their
/// SHA-256 is stored, with the credential they stand for (a session or an API key), so the ticket in a URL is worth
/// nothing once used or expired, and a revoked credential takes its unused tickets with it.
/// </summary>
[Migration(24, "WebSocketTickets")]
public sealed class Migration0024WebSocketTickets : Migration
{
    public override void Up() => Execute.Sql("""
        CREATE TABLE ws_tickets (
            secret_hash bytea PRIMARY KEY CHECK (length(secret_hash) = 32),
            user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            session_id  uuid REFERENCES sessions (id) ON DELETE CASCADE,
            api_key_id  uuid REFERENCES api_keys (id) ON DELETE CASCADE,
            expires_at  timestamptz NOT NULL,
            CONSTRAINT ws_tickets_one_credential_check CHECK ((session_id IS NULL) <> (api_key_id IS NULL))
        );
        -- The retention sweep deletes expired tickets that were never used.
        CREATE INDEX ws_tickets_expires_at_idx ON ws_tickets (expires_at);
        """);

    public override void Down() => Execute.Sql("DROP TABLE ws_tickets;");
}
