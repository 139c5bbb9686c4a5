using FluentMigrator;

namespace TaskRunner.Migrations;

/// <summary>
/// Accounts an admin manages (created without a password until a one-time token sets one; deleted by anonymisation),
/// one-time password tokens, the TOTP second factor with its recovery codes, and API keys that must sign their requests
/// with the nonces that make each signed request usable once.
/// </summary>
[Migration(21, "AccountsAndSignedRequests")]
public sealed class Migration0021AccountsAndSignedRequests : Migration
{
    public override void Up() => Execute.Sql("""
        -- An account created by an admin has no password until its set-password token is used; an anonymised one never again.
        ALTER TABLE users
            ALTER COLUMN password_hash DROP NOT NULL,
            ADD COLUMN totp_required boolean NOT NULL DEFAULT false,
            -- The shared secret (base32), needed to verify codes, so not hashable. Pending until a code confirms it.
            ADD COLUMN totp_secret text CHECK (totp_secret ~ '^[A-Z2-7]{32}$'),
            ADD COLUMN totp_enabled_at timestamptz,
            -- The last time step a code was accepted for: a code works once, never again within its window.
            ADD COLUMN totp_last_step bigint,
            ADD CONSTRAINT users_totp_enabled_check CHECK (totp_enabled_at IS NULL OR totp_secret IS NOT NULL);

        ALTER TABLE sessions
            DROP CONSTRAINT sessions_revoked_reason_check,
            ADD CONSTRAINT sessions_revoked_reason_check CHECK (revoked_reason IN
                ('logout', 'revoked', 'refresh_reuse', 'user_disabled', 'password_changed', 'password_reset'));

        -- Set-password and reset tokens: random, shown once to the admin who asked, stored only as SHA-256, used once.
        CREATE TABLE password_tokens (
            token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
            user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            purpose    text NOT NULL CHECK (purpose IN ('set_password', 'reset')),
            created_by uuid,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            used_at    timestamptz,
            CHECK (expires_at > created_at)
        );
        -- A new token replaces the user's unused ones; retention finds the expired.
        CREATE INDEX password_tokens_user_idx ON password_tokens (user_id);
        CREATE INDEX password_tokens_expires_idx ON password_tokens (expires_at);

        -- Recovery codes, shown once when the second factor is confirmed, stored as SHA-256, each usable once.
        CREATE TABLE totp_recovery_codes (
            code_hash bytea PRIMARY KEY CHECK (length(code_hash) = 32),
            user_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            used_at   timestamptz
        );
        CREATE INDEX totp_recovery_codes_user_idx ON totp_recovery_codes (user_id);

        ALTER TABLE api_keys ADD COLUMN require_signature boolean NOT NULL DEFAULT false;

        -- Nonces of accepted signed requests, kept until their timestamp is too old to be accepted anyway.
        CREATE TABLE request_nonces (
            api_key_id uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
            nonce      text NOT NULL CHECK (length(nonce) BETWEEN 16 AND 128),
            expires_at timestamptz NOT NULL,
            PRIMARY KEY (api_key_id, nonce)
        );
        CREATE INDEX request_nonces_expires_idx ON request_nonces (expires_at);
        """);

    public override void Down() => Execute.Sql("""
        DROP TABLE request_nonces;
        ALTER TABLE api_keys DROP COLUMN require_signature;
        DROP TABLE totp_recovery_codes;
        DROP TABLE password_tokens;
        UPDATE sessions SET revoked_reason = 'revoked' WHERE revoked_reason IN ('password_changed', 'password_reset');
        ALTER TABLE sessions
            DROP CONSTRAINT sessions_revoked_reason_check,
            ADD CONSTRAINT sessions_revoked_reason_check CHECK (revoked_reason IN
                ('logout', 'revoked', 'refresh_reuse', 'user_disabled'));
        UPDATE users SET password_hash = '!' WHERE password_hash IS NULL;
        ALTER TABLE users
            DROP CONSTRAINT users_totp_enabled_check,
            DROP COLUMN totp_last_step,
            DROP COLUMN totp_enabled_at,
            DROP COLUMN totp_secret,
            DROP COLUMN totp_required,
            ALTER COLUMN password_hash SET NOT NULL;
        """);
}
