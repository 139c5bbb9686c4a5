using Xunit;

namespace TaskRunner.Infrastructure.Security;

public sealed class PasswordHasherTests
{
    [Fact]
    public void TheRightPasswordVerifiesAndAWrongOneDoesNot()
    {
        var hash = PasswordHasher.Hash("correct horse battery staple");

        Assert.True(PasswordHasher.Verify("correct horse battery staple", hash));
        Assert.False(PasswordHasher.Verify("correct horse battery stapler", hash));
    }

    [Fact]
    public void EachHashIsSaltedAndRecordsItsScheme()
    {
        var first = PasswordHasher.Hash("same password");
        var second = PasswordHasher.Hash("same password");

        Assert.NotEqual(first, second);
        Assert.StartsWith($"pbkdf2-sha256${PasswordHasher.Iterations}$", first);
        Assert.False(PasswordHasher.NeedsRehash(first));
    }

    [Fact]
    public void AHashWithFewerIterationsStillVerifiesButAsksForARehash()
    {
        var salt = new byte[16];
        var weak = System.Security.Cryptography.Rfc2898DeriveBytes.Pbkdf2(
            "old password", salt, 1000, System.Security.Cryptography.HashAlgorithmName.SHA256, 32);
        var encoded = $"pbkdf2-sha256$1000${Convert.ToBase64String(salt)}${Convert.ToBase64String(weak)}";

        Assert.True(PasswordHasher.Verify("old password", encoded));
        Assert.True(PasswordHasher.NeedsRehash(encoded));
    }

    [Theory]
    [InlineData("")]
    [InlineData("plaintext")]
    [InlineData("pbkdf2-sha256$x$AAAA$AAAA")]
    [InlineData("pbkdf2-sha256$1000$not base64!$AAAA")]
    [InlineData("bcrypt$10$AAAA$AAAA")]
    public void AMalformedHashNeverVerifies(string encoded)
    {
        Assert.False(PasswordHasher.Verify("anything", encoded));
        Assert.True(PasswordHasher.NeedsRehash(encoded));
    }
}
