using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace TaskRunner.Infrastructure.Configuration;

/// <summary>
/// Settings of one options type that take effect without a restart: the value validated at start, replaced each time the
/// configuration reloads (a settings file changed) with a newly bound and validated value. A reloaded value that fails
/// validation is logged and ignored, so a typo in a file never takes a running node down or half-applies.
/// Only the parts of <typeparamref name="T"/> that docs/operations.md lists as reloadable are read through this.
/// </summary>
public sealed class Reloadable<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)] T> : IDisposable
    where T : class
{
    private readonly IOptionsFactory<T> factory;
    private readonly ILogger logger;
    private readonly IDisposable subscription;
    private T current;

    public Reloadable(IOptions<T> startup, IOptionsFactory<T> factory, IConfiguration configuration, ILogger<Reloadable<T>> logger)
    {
        current = startup.Value;
        this.factory = factory;
        this.logger = logger;
        subscription = ChangeToken.OnChange(configuration.GetReloadToken, Reload);
    }

    /// <summary>The settings in force now.</summary>
    public T Current => Volatile.Read(ref current);

    /// <summary>Raised after <see cref="Current"/> took a new value.</summary>
    public event Action<T>? Changed;

    private void Reload()
    {
        T next;
        try
        {
            next = factory.Create(Options.DefaultName);
        }
        catch (OptionsValidationException e)
        {
            ReloadableLog.Rejected(logger, typeof(T).Name, string.Join("; ", e.Failures));
            return;
        }
        Volatile.Write(ref current, next);
        Changed?.Invoke(next);
        ReloadableLog.Reloaded(logger, typeof(T).Name);
    }

    public void Dispose() => subscription.Dispose();

}

/// <summary>
/// The log lines of <see cref="Reloadable{T}"/>, outside it: the logging generator would repeat the type parameter's
/// trimming attribute on its half of a generic partial class.
/// </summary>
internal static partial class ReloadableLog
{
    [LoggerMessage(Level = LogLevel.Information, Message = "Reloaded the reloadable {Options} settings from configuration")]
    public static partial void Reloaded(ILogger logger, string options);

    [LoggerMessage(Level = LogLevel.Error, Message = "Changed {Options} settings are invalid and were not applied; the previous ones stay in force: {Failures}")]
    public static partial void Rejected(ILogger logger, string options, string failures);
}
