using Microsoft.Extensions.Options;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Database;

public sealed class CursorTests
{
    private static readonly CursorValueKind[] TimeAndId = [CursorValueKind.Timestamp, CursorValueKind.Id];

    private static CursorCodec Codec(string key = "dGVzdCBjdXJzb3Iga2V5IG9mIGF0IGxlYXN0IDMyIGJ5dGVz") =>
        new(Options.Create(new CursorOptions { SigningKey = key }));

    private static CursorBinding Binding(string? action = "task.delete") =>
        new CursorBinding("audit-log").With("sort", "-occurred_at,-id").With("action", action);

    [Fact]
    public void ACursorCarriesItsSortValuesExactly()
    {
        var codec = Codec();
        var at = new DateTime(2026, 1, 31, 12, 0, 0, DateTimeKind.Utc).AddTicks(1234560);
        var id = Guid.CreateVersion7();
        CursorValueKind[] shape = [CursorValueKind.Timestamp, CursorValueKind.Id, CursorValueKind.Number, CursorValueKind.Text, CursorValueKind.Text];

        var cursor = codec.Encode(Binding(), CursorValue.Of(at), CursorValue.Of(id), CursorValue.Of(-42), CursorValue.Of("Zoë's task"), CursorValue.Null);

        Assert.True(codec.TryDecode(cursor, Binding(), shape, out var values, out _));
        Assert.Equal(at, values[0].AsTimestamp());
        Assert.Equal(DateTimeKind.Utc, values[0].AsTimestamp().Kind);
        Assert.Equal(id, values[1].AsId());
        Assert.Equal(-42, values[2].AsNumber());
        Assert.Equal("Zoë's task", values[3].AsText());
        Assert.Equal(CursorValueKind.Null, values[4].Kind);
        Assert.DoesNotContain('+', cursor);
        Assert.DoesNotContain('/', cursor);
        Assert.DoesNotContain('=', cursor);
    }

    [Fact]
    public void EveryAlteredCharacterMakesTheCursorInvalid()
    {
        var codec = Codec();
        var cursor = codec.Encode(Binding(), CursorValue.Of(DateTime.UtcNow), CursorValue.Of(Guid.CreateVersion7()));

        for (var i = 0; i < cursor.Length; i++)
        {
            var altered = cursor[..i] + (cursor[i] == 'A' ? 'B' : 'A') + cursor[(i + 1)..];
            Assert.False(codec.TryDecode(altered, Binding(), TimeAndId, out _, out var error), $"altered at {i}");
            Assert.Equal(CursorCodec.Invalid, error);
        }
    }

    [Fact]
    public void ACursorFromOtherFiltersIsRejectedAsAnotherQuery()
    {
        var codec = Codec();
        var cursor = codec.Encode(Binding("task.delete"), CursorValue.Of(DateTime.UtcNow), CursorValue.Of(Guid.CreateVersion7()));

        Assert.False(codec.TryDecode(cursor, Binding("task.create"), TimeAndId, out _, out var otherValue));
        Assert.False(codec.TryDecode(cursor, Binding(null), TimeAndId, out _, out var filterDropped));
        Assert.Equal(CursorCodec.OtherQuery, otherValue);
        Assert.Equal(CursorCodec.OtherQuery, filterDropped);
    }

    [Fact]
    public void BindingsThatOnlyConcatenateAlikeAreDifferent()
    {
        var codec = Codec();
        var first = new CursorBinding("list").With("a", "b,c").With("d", null);
        var second = new CursorBinding("list").With("a", "b").With("c,d", "");
        var cursor = codec.Encode(first, CursorValue.Of(1));

        Assert.False(codec.TryDecode(cursor, second, [CursorValueKind.Number], out _, out var error));
        Assert.Equal(CursorCodec.OtherQuery, error);
    }

    [Fact]
    public void ACursorSignedWithAnotherKeyIsInvalid()
    {
        var cursor = Codec("YW5vdGhlciBrZXksIGFsc28gb2YgYXQgbGVhc3QgMzIgYnl0ZXM=")
            .Encode(Binding(), CursorValue.Of(DateTime.UtcNow), CursorValue.Of(Guid.CreateVersion7()));

        Assert.False(Codec().TryDecode(cursor, Binding(), TimeAndId, out _, out var error));
        Assert.Equal(CursorCodec.Invalid, error);
    }

    [Theory]
    [InlineData("")]
    [InlineData("not base64 at all!")]
    [InlineData("AAAA")]
    [InlineData("eyJvY2N1cnJlZF9hdCI6IjIwMjYtMDEtMDEifQ")]
    public void GarbageIsAnInvalidCursor(string cursor)
    {
        Assert.False(Codec().TryDecode(cursor, Binding(), TimeAndId, out _, out var error));
        Assert.Equal(CursorCodec.Invalid, error);
    }

    [Fact]
    public void AnOverlongCursorIsRejectedBeforeDecoding()
    {
        Assert.False(Codec().TryDecode(new string('A', 100_000), Binding(), TimeAndId, out _, out var error));
        Assert.Equal(CursorCodec.Invalid, error);
    }

    [Fact]
    public void ACursorOfAnotherShapeIsInvalid()
    {
        var codec = Codec();
        var cursor = codec.Encode(Binding(), CursorValue.Of("title"), CursorValue.Of(Guid.CreateVersion7()));

        Assert.False(codec.TryDecode(cursor, Binding(), TimeAndId, out _, out var error));
        Assert.Equal(CursorCodec.Invalid, error);
    }

    [Theory]
    [InlineData("", "is required")]
    [InlineData("c2hvcnQ=", "at least 32 bytes")]
    [InlineData("not base64 !!", "at least 32 bytes")]
    public void ASigningKeyMustBeBase64OfAtLeast32Bytes(string key, string message)
    {
        var result = new CursorOptionsValidator().Validate(null, new CursorOptions { SigningKey = key });

        Assert.True(result.Failed);
        Assert.Contains(message, result.FailureMessage);
        Assert.Contains("SigningKey", result.FailureMessage);
    }
}

/// <summary>Cursors from one node must verify on every other: a node without a configured key must not invent one.</summary>
public sealed class CursorKeyConfigurationTests
{
    [Fact]
    public async Task AProductionNodeWithoutACursorSigningKeyRefusesToStartNamingTheSetting()
    {
        await using var service = ServiceProcess.Start(
            [.. ServiceFixture.BaseSettings("Host=127.0.0.1;Username=postgres"), new("ASPNETCORE_ENVIRONMENT", "Production")]);

        var exitCode = await service.WaitForExitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(1, exitCode);
        var line = Assert.Single(service.Output.Split('\n'), line => line.Contains("Invalid configuration", StringComparison.Ordinal));
        Assert.Contains("Cursors:SigningKey", line);
    }

    [Fact]
    public async Task ADevelopmentNodeUsesTheFixedDevelopmentKey()
    {
        await using var service = ServiceProcess.Start(
            [.. ServiceFixture.BaseSettings("Host=127.0.0.1;Port=1;Username=postgres"), new("ASPNETCORE_ENVIRONMENT", "Development")]);

        Assert.True(await service.WaitUntilListeningAsync(TimeSpan.FromSeconds(30)), service.Output);
    }
}
