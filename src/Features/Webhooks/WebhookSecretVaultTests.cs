using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using TaskRunner.Infrastructure.Configuration;
using Xunit;

namespace TaskRunner.Features.Webhooks;

public sealed class WebhookSecretVaultTests
{
    private static readonly string OldKey = Convert.ToBase64String(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray());
    private static readonly string NewKey = Convert.ToBase64String(Enumerable.Range(100, 32).Select(i => (byte)i).ToArray());

    /// <summary>A vault as a node with these settings has it.</summary>
    internal static WebhookSecretVault Vault(string? activeKeyId, params (string Id, string Key)[] keys) =>
        new(Options.Create(new WebhooksOptions
        {
            SecretEncryptionKeys = keys.ToDictionary(key => key.Id, key => key.Key),
            SecretEncryptionKeyId = activeKeyId,
        }), NullLogger<WebhookSecretVault>.Instance);

    [Fact]
    public void ASealedSecretHidesItselfAndOpensWithItsKeyAfterTheActiveKeyChanged()
    {
        var secret = WebhookSigning.NewSecret();
        var stored = Vault("old", ("old", OldKey)).Seal(secret);

        Assert.StartsWith("aesgcm:old:", stored);
        Assert.DoesNotContain(secret[WebhookSigning.SecretPrefix.Length..], stored);
        Assert.NotEqual(stored, Vault("old", ("old", OldKey)).Seal(secret));
        var opened = Vault("new", ("old", OldKey), ("new", NewKey)).Open([stored], out var error);
        Assert.Null(error);
        Assert.Equal([secret], Assert.IsType<string[]>(opened));
    }

    [Fact]
    public void WithoutAKeySecretsAreStoredAsTheyAreAndPlainOnesStillOpen()
    {
        var secret = WebhookSigning.NewSecret();

        Assert.Equal(secret, Vault(null).Seal(secret));
        Assert.Equal([secret], Assert.IsType<string[]>(Vault("new", ("new", NewKey)).Open([secret], out _)));
    }

    [Fact]
    public void ASecretWhoseKeyIsGoneOrThatWasAlteredDoesNotOpenAndSaysWhy()
    {
        var stored = Vault("old", ("old", OldKey)).Seal(WebhookSigning.NewSecret());

        Assert.Null(Vault("new", ("new", NewKey)).Open([WebhookSigning.NewSecret(), stored], out var gone));
        Assert.Contains("key 'old'", gone);
        Assert.Contains("Webhooks:SecretEncryptionKeys", gone);

        var sealedBytes = Convert.FromBase64String(stored["aesgcm:old:".Length..]);
        sealedBytes[^1] ^= 1;
        Assert.Null(Vault("old", ("old", OldKey)).Open(["aesgcm:old:" + Convert.ToBase64String(sealedBytes)], out var altered));
        Assert.Contains("does not open", altered);

        Assert.Null(Vault("old", ("old", OldKey)).Open(["aesgcm:old:%%%"], out var damaged));
        Assert.Contains("damaged", damaged);
    }
}
