using Microsoft.Extensions.DependencyInjection;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Auth;

public sealed class AuthRetentionTests : DatabaseTest
{
    private async Task ExecuteAsync(string sql, params object[] values)
    {
        await using var command = DataSource.CreateCommand(sql);
        foreach (var value in values)
            command.Parameters.AddWithValue(value);
        await command.ExecuteNonQueryAsync();
    }

    private async Task<List<string>> TextsAsync(string sql)
    {
        await using var command = DataSource.CreateCommand(sql);
        await using var reader = await command.ExecuteReaderAsync();
        var texts = new List<string>();
        while (await reader.ReadAsync())
            texts.Add(reader.GetString(0));
        return texts;
    }

    /// <summary>A session of <paramref name="userId"/>, created 40 days ago, tagged by its user agent.</summary>
    private Task SessionAsync(Guid userId, string tag, int expiresInDays, int? revokedDaysAgo = null) => ExecuteAsync("""
        INSERT INTO sessions (id, user_id, created_at, expires_at, revoked_at, revoked_reason, user_agent)
        VALUES (gen_random_uuid(), $1, now() - interval '40 days', now() + make_interval(days => $3),
                now() - make_interval(days => $4::int), CASE WHEN $4::int IS NULL THEN NULL ELSE 'logout' END, $2)
        """, userId, tag, expiresInDays, revokedDaysAgo is { } days ? days : DBNull.Value);

    private Task RefreshTokenAsync(string sessionTag, string tag, int? usedDaysAgo) => ExecuteAsync("""
        INSERT INTO refresh_tokens (token_hash, session_id, used_at)
        SELECT sha256(convert_to($2, 'UTF8')), id, now() - make_interval(days => $3::int) FROM sessions WHERE user_agent = $1
        """, sessionTag, tag, usedDaysAgo is { } days ? days : DBNull.Value);

    [Fact]
    public async Task ASweepDeletesEndedSessionsUsedRefreshTokensAndStaleFailureCountsPastTheRetention()
    {
        var userId = Guid.CreateVersion7();
        await ExecuteAsync("INSERT INTO users (id, email, display_name, role, password_hash) VALUES ($1, 'r@example.test', 'R', 'member', 'x')", userId);
        await SessionAsync(userId, "expired long ago", expiresInDays: -10);
        await SessionAsync(userId, "revoked long ago", expiresInDays: 10, revokedDaysAgo: 10);
        await SessionAsync(userId, "expired recently", expiresInDays: -1);
        await SessionAsync(userId, "live", expiresInDays: 10);
        await RefreshTokenAsync("expired long ago", "unused in an ended session", null);
        await RefreshTokenAsync("live", "used long ago", 10);
        await RefreshTokenAsync("live", "used recently", 1);
        await RefreshTokenAsync("live", "current", null);
        await ExecuteAsync("""
            INSERT INTO login_failures_by_ip (ip, failures, window_start, blocked_until) VALUES
                ('192.0.2.1', 3, now() - interval '10 days', NULL),
                ('192.0.2.2', 3, now() - interval '10 days', now() + interval '1 day'),
                ('192.0.2.3', 3, now() - interval '1 hour', NULL)
            """);
        using var metrics = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var retention = TestBackground.Retention(DataSource, metrics, meters =>
            AuthRetention.Job(new AuthOptions { RetentionDays = 7, RetentionSweepMinutes = 60 }, meters));

        var deleted = await retention.SweepAsync(CancellationToken.None);

        Assert.Equal(4, deleted);
        Assert.Equal(["expired recently", "live"], await TextsAsync("SELECT user_agent FROM sessions ORDER BY user_agent"));
        Assert.Equal(2, (await TextsAsync("SELECT encode(token_hash, 'hex') FROM refresh_tokens")).Count);
        Assert.Equal(["192.0.2.2", "192.0.2.3"], await TextsAsync("SELECT host(ip) FROM login_failures_by_ip ORDER BY ip"));
    }
}
