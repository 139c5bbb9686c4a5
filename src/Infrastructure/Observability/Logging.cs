namespace TaskRunner.Infrastructure.Observability;

public static class Logging
{
    /// <summary>One JSON object per line on stdout, UTC timestamps: what log shippers parse without configuration.</summary>
    public static WebApplicationBuilder AddJsonLogging(this WebApplicationBuilder builder)
    {
        builder.Logging.ClearProviders();
        builder.Logging.AddJsonConsole(options =>
        {
            options.UseUtcTimestamp = true;
            options.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            options.IncludeScopes = false;
        });
        return builder;
    }
}
