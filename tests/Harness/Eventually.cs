using Xunit;

namespace TaskRunner.Tests.Harness;

/// <summary>
/// Waiting on a condition rather than for a guessed time: a probe is run again and again, a short pause apart, until what
/// it returns is accepted; the test fails with a message naming what was last seen once the time allowed runs out.
/// </summary>
public static class Eventually
{
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan DefaultPause = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// Runs <paramref name="probe"/> until <paramref name="accept"/> holds for its result, and returns that result; fails
    /// the test with <paramref name="failure"/> of the last result after <paramref name="timeout"/> (20 s unless given).
    /// </summary>
    public static async Task<T> Until<T>(
        Func<Task<T>> probe, Func<T, bool> accept, Func<T, string> failure, TimeSpan? timeout = null, TimeSpan? pause = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        while (true)
        {
            var result = await probe();
            if (accept(result))
                return result;
            if (DateTime.UtcNow > deadline)
                Assert.Fail(failure(result));
            await Task.Delay(pause ?? DefaultPause);
        }
    }

    /// <summary>Waits until <paramref name="condition"/> is true; fails the test with <paramref name="failure"/> after the timeout.</summary>
    public static Task Until(Func<Task<bool>> condition, string failure, TimeSpan? timeout = null, TimeSpan? pause = null) =>
        Until(condition, static met => met, _ => failure, timeout, pause);

    /// <summary>Waits until <paramref name="condition"/> (a synchronous check) is true; fails the test after the timeout.</summary>
    public static Task Until(Func<bool> condition, string failure, TimeSpan? timeout = null, TimeSpan? pause = null) =>
        Until(() => Task.FromResult(condition()), failure, timeout, pause);
}
