using Microsoft.Extensions.Options;
using TaskRunner.Infrastructure.RateLimiting;

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
        services.AddOptions<BackgroundOptions>().BindConfiguration(BackgroundOptions.Section)
            .Validate(options => options.FailureBackoffMilliseconds <= options.MaxFailureBackoffSeconds * 1000,
                "FailureBackoffMilliseconds must not exceed MaxFailureBackoffSeconds")
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<BackgroundOptions>, BackgroundOptionsValidator>();
        services.AddOptions<MetricsOptions>().BindConfiguration(MetricsOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<MetricsOptions>, MetricsOptionsValidator>();
        services.AddOptions<TracingOptions>().BindConfiguration(TracingOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<TracingOptions>, TracingOptionsValidator>();
        services.AddOptions<RateLimitingOptions>().BindConfiguration(RateLimitingOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<RateLimitingOptions>, RateLimitingOptionsValidator>();
        services.AddOptions<AuthOptions>().BindConfiguration(AuthOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<AuthOptions>, AuthOptionsValidator>();
        services.AddOptions<CursorOptions>().BindConfiguration(CursorOptions.Section)
            .PostConfigure<IHostEnvironment>(CursorOptions.DefaultKeyOutsideProduction).ValidateOnStart();
        services.AddSingleton<IValidateOptions<CursorOptions>, CursorOptionsValidator>();
        services.AddOptions<ListOptions>().BindConfiguration(ListOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ListOptions>, ListOptionsValidator>();
        services.AddOptions<AuditOptions>().BindConfiguration(AuditOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<AuditOptions>, AuditOptionsValidator>();
        services.AddOptions<SearchAnalyticsOptions>().BindConfiguration(SearchAnalyticsOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<SearchAnalyticsOptions>, SearchAnalyticsOptionsValidator>();
        services.AddOptions<EventsOptions>().BindConfiguration(EventsOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<EventsOptions>, EventsOptionsValidator>();
        services.AddOptions<RealTimeOptions>().BindConfiguration(RealTimeOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<RealTimeOptions>, RealTimeOptionsValidator>();
        services.AddOptions<ProjectsOptions>().BindConfiguration(ProjectsOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ProjectsOptions>, ProjectsOptionsValidator>();
        services.AddOptions<TasksOptions>().BindConfiguration(TasksOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<TasksOptions>, TasksOptionsValidator>();
        services.AddOptions<AttachmentsOptions>().BindConfiguration(AttachmentsOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<AttachmentsOptions>, AttachmentsOptionsValidator>();
        services.AddOptions<EngineOptions>().BindConfiguration(EngineOptions.Section)
            .Validate(options => options.RetryBaseSeconds <= options.RetryMaxSeconds, "RetryBaseSeconds must not exceed RetryMaxSeconds")
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<EngineOptions>, EngineOptionsValidator>();
        services.AddOptions<ClusterOptions>().BindConfiguration(ClusterOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ClusterOptions>, ClusterOptionsValidator>();
        services.AddOptions<SchedulesOptions>().BindConfiguration(SchedulesOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<SchedulesOptions>, SchedulesOptionsValidator>();
        services.AddOptions<WorkflowsOptions>().BindConfiguration(WorkflowsOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<WorkflowsOptions>, WorkflowsOptionsValidator>();
        services.AddOptions<WebhooksOptions>().BindConfiguration(WebhooksOptions.Section)
            .Validate(options => WebhooksOptions.ParseSchedule(options.RetrySchedule) is not null,
                "RetrySchedule must be 1 to 50 comma-separated whole numbers of seconds, each between 1 and 604800")
            .Validate(options => options.MaxInFlight == 0 || options.MaxInFlightPerHost <= options.MaxInFlight, "MaxInFlightPerHost must not exceed MaxInFlight")
            .Validate(options => options.AttemptTimeoutSeconds <= options.TotalTimeoutSeconds, "AttemptTimeoutSeconds must not exceed TotalTimeoutSeconds")
            .Validate(options => options.LeaseSeconds >= options.TotalTimeoutSeconds + 5,
                "LeaseSeconds must exceed TotalTimeoutSeconds by at least 5, so a lease outlives the attempt it covers")
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<WebhooksOptions>, WebhooksOptionsValidator>();
        return services;
    }

    /// <summary>
    /// Every failure in a validation error (one options type, or several in an AggregateException), each naming the full
    /// configuration key (<c>Database:ConnectionString is required</c>), which is what an operator searches their settings for.
    /// </summary>
    public static IReadOnlyList<string> ValidationFailures(Exception exception) => exception switch
    {
        OptionsValidationException validation => validation.Failures.Select(failure => $"{Section(validation.OptionsType)}:{failure}").ToList(),
        AggregateException aggregate => aggregate.InnerExceptions.SelectMany(ValidationFailures).ToList(),
        _ => [],
    };

    /// <summary>Sections whose name is not the type's name minus "Options" (plural sections of singular types).</summary>
    private static readonly Dictionary<Type, string> IrregularSections = new()
    {
        [typeof(CursorOptions)] = CursorOptions.Section,
        [typeof(ListOptions)] = ListOptions.Section,
    };

    private static string Section(Type optionsType) =>
        IrregularSections.TryGetValue(optionsType, out var section) ? section
        : optionsType.Name.EndsWith("Options", StringComparison.Ordinal) ? optionsType.Name[..^"Options".Length]
        : optionsType.Name;
}
