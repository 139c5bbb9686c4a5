using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace TaskRunner.Infrastructure.Configuration;

/// <summary>How searches are counted for the admins' search analytics and how long the counts are kept. Section <c>SearchAnalytics</c>.</summary>
public sealed class SearchAnalyticsOptions
{
    public const string Section = "SearchAnalytics";

    /// <summary>Whether searches are counted at all.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Seconds between two writes of a node's counts: the analytics are at most this far behind.</summary>
    [Range(1, 3600, ErrorMessage = "must be between 1 and 3600")]
    public int FlushSeconds { get; set; } = 30;

    /// <summary>
    /// Distinct queries a node keeps between two writes; searches for further queries still count in the day's totals and
    /// latency, but their text is not kept, so a flood of unique queries cannot grow memory or the tables.
    /// </summary>
    [Range(1, 100_000, ErrorMessage = "must be between 1 and 100000")]
    public int MaxQueriesPerFlush { get; set; } = 1000;

    /// <summary>Days of counts kept (UTC days, today included).</summary>
    [Range(1, 3650, ErrorMessage = "must be between 1 and 3650")]
    public int RetentionDays { get; set; } = 30;

    /// <summary>Rows deleted per statement by the retention sweep.</summary>
    [Range(1, 100_000, ErrorMessage = "must be between 1 and 100000")]
    public int RetentionBatchSize { get; set; } = 5000;

    /// <summary>Minutes between two retention sweeps on each node.</summary>
    [Range(1, 10_080, ErrorMessage = "must be between 1 and 10080")]
    public int RetentionSweepMinutes { get; set; } = 60;
}

[OptionsValidator]
public sealed partial class SearchAnalyticsOptionsValidator : IValidateOptions<SearchAnalyticsOptions>;
