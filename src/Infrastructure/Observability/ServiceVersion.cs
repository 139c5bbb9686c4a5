using System.Reflection;

namespace TaskRunner.Infrastructure.Observability;

public static class ServiceVersion
{
    /// <summary>The build's informational version (without the source-revision suffix).</summary>
    public static string Current { get; } =
        typeof(ServiceVersion).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            .Split('+')[0] ?? "0.0.0";
}
