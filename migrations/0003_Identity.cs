using FluentMigrator;

namespace TaskRunner.Migrations;

/// <summary>Sessions with rotating refresh tokens, API keys, and failed-authentication tracking.</summary>
[Migration(3, "Identity")]
public sealed class Migration0003Identity : Migration
{
    public override void Up() => Execute.Sql("""
        ALTER TABLE users
            ADD COLUMN failed_logins integer NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
            ADD COLUMN locked_until  timestamptz;

        CREATE TABLE sessions (
            id             uuid PRIMARY KEY,
            user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            created_at     timestamptz NOT NULL DEFAULT now(),
            last_used_at   timestamptz NOT NULL DEFAULT now(),
            expires_at     timestamptz NOT NULL,
            revoked_at     timestamptz,
            revoked_reason text CHECK (revoked_reason IN ('logout', 'revoked', 'refresh_reuse', 'user_disabled')),
            ip             inet,
            user_agent     text CHECK (length(user_agent) <= 512),
            CHECK (expires_at > created_at),
            CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
        );
        -- GET /auth/sessions lists a user's live sessions, newest first.
        CREATE INDEX sessions_user_live_idx ON sessions (user_id, created_at DESC) WHERE revoked_at IS NULL;

        -- Refresh tokens are stored only as SHA-256 hashes. A token is used once; presenting a used one again is theft.
        CREATE TABLE refresh_tokens (
            token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
            session_id uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            issued_at  timestamptz NOT NULL DEFAULT now(),
            used_at    timestamptz
        );
        CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

        CREATE TABLE api_keys (
            id           uuid PRIMARY KEY,
            user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
            role         text NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
            -- The public part of the key, looked up on every request; the secret part is only hashed.
            prefix       text NOT NULL UNIQUE CHECK (prefix ~ '^[A-Za-z0-9]{12}$'),
            secret_hash  bytea NOT NULL CHECK (length(secret_hash) = 32),
            created_at   timestamptz NOT NULL DEFAULT now(),
            expires_at   timestamptz,
            last_used_at timestamptz,
            revoked_at   timestamptz
        );
        -- GET /auth/api-keys lists a user's keys.
        CREATE INDEX api_keys_user_idx ON api_keys (user_id, created_at DESC);

        -- Failed logins per client address, for slowing down guessing from one place across all nodes.
        CREATE TABLE login_failures_by_ip (
            ip            inet PRIMARY KEY,
            failures      integer NOT NULL CHECK (failures > 0),
            window_start  timestamptz NOT NULL,
            blocked_until timestamptz
        );
        """);

    public override void Down() => Execute.Sql("""
        DROP TABLE login_failures_by_ip;
        DROP TABLE api_keys;
        DROP TABLE refresh_tokens;
        DROP TABLE sessions;
        ALTER TABLE users DROP COLUMN locked_until, DROP COLUMN failed_logins;
        """);
}
