using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Webhooks;

public sealed class SecretResealingTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private static readonly string OldKey = Convert.ToBase64String(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray());
    private static readonly string NextKey = Convert.ToBase64String(Enumerable.Range(64, 32).Select(i => (byte)i).ToArray());

    [Fact]
    public async Task ANodeStartedWithANewActiveKeySealsEveryStoredSecretUnderItExceptThoseItCannotOpen()
    {
        var project = await service.CreateProjectAsync();
        var plain = WebhookSigning.NewSecret();
        var underOldKey = WebhookSigning.NewSecret();
        var underLostKey = WebhookSecretVaultTests.Vault("lost", ("lost", NextKey)).Seal(WebhookSigning.NewSecret());
        await service.ExecuteSqlAsync("""
            INSERT INTO webhook_secrets (id, project_id, secret, created_at)
            SELECT uuid_v7(), $1, s.secret, now() - make_interval(secs => s.n)
            FROM unnest($2::text[]) WITH ORDINALITY AS s (secret, n)
            """, project.Id, new[] { plain, WebhookSecretVaultTests.Vault("old", ("old", OldKey)).Seal(underOldKey), underLostKey });

        var settings = ServiceFixture.BaseSettings(service.ConnectionString)
            .Where(setting => !setting.Key.StartsWith("Webhooks:SecretEncryption", StringComparison.Ordinal))
            .Concat([
                new("Webhooks:SecretEncryptionKeys:old", OldKey),
                new("Webhooks:SecretEncryptionKeys:next", NextKey),
                new("Webhooks:SecretEncryptionKeyId", "next"),
            ]);
        await using var node = await SecondNode.StartAsync(service, settings);

        const string Stored = "SELECT secret FROM webhook_secrets WHERE project_id = $1 ORDER BY created_at DESC";
        var stored = await Eventually.Until(() => service.QueryTextAsync(Stored, project.Id),
            secrets => secrets.Count(secret => secret.StartsWith("aesgcm:next:", StringComparison.Ordinal)) >= 2,
            secrets => "not resealed: " + string.Join(", ", secrets));
        var next = WebhookSecretVaultTests.Vault("next", ("next", NextKey));
        Assert.Equal([plain, underOldKey], stored.Take(2).Select(secret => next.TryOpen(secret, out var opened, out _) ? opened : "unopened"));
        Assert.Equal(underLostKey, stored[2]);
    }
}
