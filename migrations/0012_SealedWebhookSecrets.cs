using FluentMigrator;

namespace TaskRunner.Migrations;

/// <summary>
/// Signing secrets may be stored sealed (AES-256-GCM under a key from the service's configuration, see
/// WebhookSecretVault): the column takes that form beside the plain <c>whsec_</c> one.
/// </summary>
[Migration(12, "Sealed webhook secrets")]
public sealed class Migration0012SealedWebhookSecrets : Migration
{
    public override void Up() => Execute.Sql("""
        ALTER TABLE webhook_secrets DROP CONSTRAINT webhook_secrets_secret_check,
            ADD CONSTRAINT webhook_secrets_secret_check
                CHECK (secret LIKE 'whsec\_%' OR secret ~ '^aesgcm:[A-Za-z0-9_-]{1,32}:[A-Za-z0-9+/]+={0,2}$');
        """);

    // Sealed rows stay (NOT VALID skips them): the older service cannot open them, so rotate those secrets after going back.
    public override void Down() => Execute.Sql("""
        ALTER TABLE webhook_secrets DROP CONSTRAINT webhook_secrets_secret_check,
            ADD CONSTRAINT webhook_secrets_secret_check CHECK (secret LIKE 'whsec\_%') NOT VALID;
        """);
}
