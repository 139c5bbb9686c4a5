using Microsoft.Extensions.Options;

namespace TaskRunner.Infrastructure.Configuration;

public static class OptionsRegistration
{
    /// <summary>Binds every options section and validates it when the host starts, so a bad setting stops the process.</summary>
    public static IServiceCollection AddServiceOptions(this IServiceCollection services)
    {
        // Spelled out per type: the configuration binder's source generator only sees non-generic calls.
        services.AddOptions<DatabaseOptions>().BindConfiguration(DatabaseOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<DatabaseOptions>, DatabaseOptionsValidator>();
        services.AddOptions<HttpOptions>().BindConfiguration(HttpOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<HttpOptions>, HttpOptionsValidator>();
        services.AddOptions<ShutdownOptions>().BindConfiguration(ShutdownOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ShutdownOptions>, ShutdownOptionsValidator>();
        return services;
    }

    /// <summary>
    /// One readable line for all failures, each naming the full configuration key
    /// (<c>Database:ConnectionString is required</c>), which is what an operator searches their settings for.
    /// </summary>
    public static string Describe(OptionsValidationException exception)
    {
        var section = exception.OptionsType.Name.EndsWith("Options", StringComparison.Ordinal)
            ? exception.OptionsType.Name[..^"Options".Length]
            : exception.OptionsType.Name;
        return string.Join("; ", exception.Failures.Select(failure => $"{section}:{failure}"));
    }
}
