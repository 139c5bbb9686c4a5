using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.SearchAnalytics;

public static class SearchAnalyticsEndpoints
{
    public static IServiceCollection AddSearchAnalyticsFeature(this IServiceCollection services)
    {
        services.AddSingleton<SearchStatistics>();
        services.AddHostedService<SearchStatisticsWriter>();
        return services.AddRetention<SearchAnalyticsOptions>(SearchAnalyticsRetention.Job);
    }

    public static IEndpointRouteBuilder MapSearchAnalytics(this IEndpointRouteBuilder api)
    {
        api.MapGet("/search-analytics", GetSearchAnalytics.Handle)
            .WithTags("Operations")
            .RequireAuthorization(AuthSetup.AdminPolicy)
            .WithName("GetSearchAnalytics")
            .WithSummary("Admins: search analytics")
            .WithDescription($"""
                How task search (`GET /tasks/search`) is used over the last `days` UTC days, today included (default
                {GetSearchAnalytics.DefaultDays}, at most `SearchAnalytics__RetentionDays`): the number of searches and of searches that found
                nothing; the `limit` most searched queries (default {GetSearchAnalytics.DefaultLimit}, at most {GetSearchAnalytics.MaxLimit});
                the `limit` most searched queries that found nothing; and each day with its latency (mean, and p50/p95/p99 as the
                upper bound of a histogram bucket). A search counts once, for its first page; queries are counted trimmed, in lower
                case, with runs of spaces as one. Who searched is never stored. Each node adds its counts every
                `SearchAnalytics__FlushSeconds` (default 30), so the figures can be that far behind.
                """)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden);
        return api;
    }
}
