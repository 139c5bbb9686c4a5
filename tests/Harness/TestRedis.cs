namespace TaskRunner.Tests.Harness;

/// <summary>
/// Real Redis for the distributed rate-limit tests: TASKRUNNER_TEST_REDIS (<c>host:port</c>) when `make test` provides it,
/// else `scripts/redis.sh start test` is run here. Test classes share it and keep apart by key prefix. A test that must stop
/// Redis starts a private instance of its own.
/// </summary>
public static class TestRedis
{
    private static readonly Lazy<Task<string>> Shared = new(() =>
        Environment.GetEnvironmentVariable("TASKRUNNER_TEST_REDIS") is { Length: > 0 } configured
            ? Task.FromResult(configured)
            : StartAsync("test"));

    /// <summary>The shared server's connection string.</summary>
    public static Task<string> ConnectionStringAsync() => Shared.Value;

    /// <summary>Starts (or finds running) the named instance; returns its connection string.</summary>
    public static async Task<string> StartAsync(string instance)
    {
        await Scripts.RunAsync("redis.sh", $"start {instance}");
        return (await Scripts.RunAsync("redis.sh", $"url {instance}")).Trim();
    }

    public static Task StopAsync(string instance) => Scripts.RunAsync("redis.sh", $"stop {instance}");

    public static Task DestroyAsync(string instance) => Scripts.RunAsync("redis.sh", $"destroy {instance}");

    /// <summary>A key prefix no other test class or run uses.</summary>
    public static string UniqueKeyPrefix() => $"test:{Guid.NewGuid():N}:";
}
