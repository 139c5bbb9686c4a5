namespace TaskRunner.Infrastructure.Events;

/// <summary>
/// The one wake-up primitive of background loops and long polls: <see cref="Wake"/> completes the current
/// <see cref="Next"/> and installs a fresh one, so any number of waiters wake together and nobody spins on a completed
/// wake-up. Take <see cref="Next"/> <em>before</em> looking for work, so a wake-up that arrives while looking is not missed.
/// </summary>
public sealed class WakeSignal
{
    private TaskCompletionSource next = NewWake();

    private static TaskCompletionSource NewWake() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task Next => Volatile.Read(ref next).Task;

    public void Wake() => Interlocked.Exchange(ref next, NewWake()).TrySetResult();

    /// <summary>Waits for <paramref name="wake"/> (taken earlier from <see cref="Next"/>) or for <paramref name="delay"/>, whichever comes first.</summary>
    public static async Task WaitAsync(Task wake, TimeSpan delay, CancellationToken cancellationToken)
    {
        try
        {
            await wake.WaitAsync(delay, cancellationToken);
        }
        catch (TimeoutException)
        {
            // The delay passed first: the caller looks again.
        }
    }
}
