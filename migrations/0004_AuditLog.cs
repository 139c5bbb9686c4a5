using FluentMigrator;

namespace TaskRunner.Migrations;

/// <summary>The audit trail: who did what to which resource, when, from where, in which request, with a compact diff.</summary>
[Migration(4, "Audit log")]
public sealed class Migration0004AuditLog : Migration
{
    public override void Up() => Execute.Sql("""
        CREATE TABLE audit_log (
            id               uuid PRIMARY KEY,
            -- now() is the transaction's start: the entries one change writes share it, and id (UUIDv7) orders them.
            occurred_at      timestamptz NOT NULL DEFAULT now(),
            -- No foreign keys on the actor: the trail must outlive the accounts and keys it names (a purged user's
            -- actions stay on record), and an audit insert must never fail or lock because of a concurrent delete.
            actor_user_id    uuid,
            actor_api_key_id uuid,
            action           text NOT NULL CHECK (action ~ '^[a-z_]+(\.[a-z_]+)+$' AND length(action) <= 100),
            resource_type    text NOT NULL CHECK (resource_type ~ '^[a-z_]+$' AND length(resource_type) <= 100),
            resource_id      text CHECK (length(resource_id) BETWEEN 1 AND 200),
            ip               inet,
            request_id       text CHECK (length(request_id) <= 128),
            diff             jsonb CHECK (jsonb_typeof(diff) = 'object'),
            -- A key always acts for a user; only system actions have no actor at all.
            CHECK (actor_api_key_id IS NULL OR actor_user_id IS NOT NULL)
        );

        -- Which query uses which index (every list is ORDER BY occurred_at DESC, id DESC with a keyset on both):
        -- GET /audit-log without filters, with from/to, resource_type alone; and the retention sweep (oldest first,
        -- the same index scanned backwards).
        CREATE INDEX audit_log_keyset_idx ON audit_log (occurred_at DESC, id DESC);
        -- GET /audit-log?user_id=
        CREATE INDEX audit_log_actor_idx ON audit_log (actor_user_id, occurred_at DESC, id DESC)
            WHERE actor_user_id IS NOT NULL;
        -- GET /audit-log?action=
        CREATE INDEX audit_log_action_idx ON audit_log (action, occurred_at DESC, id DESC);
        -- GET /audit-log?resource_type=&resource_id= ("the history of this task")
        CREATE INDEX audit_log_resource_idx ON audit_log (resource_type, resource_id, occurred_at DESC, id DESC);
        """);

    public override void Down() => Execute.Sql("DROP TABLE audit_log;");
}
