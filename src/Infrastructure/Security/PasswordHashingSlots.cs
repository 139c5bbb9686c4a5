using Microsoft.Extensions.Options;
using TaskRunner.Infrastructure.Configuration;

namespace TaskRunner.Infrastructure.Security;

/// <summary>
/// A password hash takes a core for a few hundred milliseconds on purpose, so a burst of logins or registrations could
/// take every core from every other request. At most <see cref="AuthOptions.MaxConcurrentPasswordHashes"/> run at once;
/// a request waits up to <see cref="AuthOptions.PasswordHashQueueMilliseconds"/> for a slot and is otherwise answered 503.
/// </summary>
public sealed class PasswordHashingSlots(IOptions<AuthOptions> options) : IDisposable
{
    /// <summary>What a refused request is told to wait: about the time a few hashes take.</summary>
    public static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(1);

    private readonly SemaphoreSlim slots = new(options.Value.MaxConcurrentPasswordHashes);
    private readonly TimeSpan queueTime = TimeSpan.FromMilliseconds(options.Value.PasswordHashQueueMilliseconds);

    /// <summary>A slot to hash in, released on dispose; null when none came free in time.</summary>
    public async Task<Slot?> TryTakeAsync(CancellationToken cancellationToken) =>
        await slots.WaitAsync(queueTime, cancellationToken) ? new Slot(slots) : null;

    public void Dispose() => slots.Dispose();

    public sealed class Slot(SemaphoreSlim slots) : IDisposable
    {
        private int released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref released, 1) == 0)
                slots.Release();
        }
    }
}
