using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace TaskRunner.Infrastructure.Configuration;

/// <summary>The cron scheduler. Section <c>Schedules</c>.</summary>
public sealed class SchedulesOptions
{
    public const string Section = "Schedules";

    /// <summary>
    /// The longest the scheduler sleeps between two looks at the due schedules. It also wakes at the next due time it knows
    /// of and when a schedule is created or changed on any node (a NOTIFY); this bounds the wait should that be missed.
    /// </summary>
    [Range(1, 60, ErrorMessage = "must be between 1 and 60")]
    public int PollSeconds { get; set; } = 5;

    /// <summary>Fire times one schedule handles in one transaction; a longer backlog continues in the next one.</summary>
    [Range(1, 10_000, ErrorMessage = "must be between 1 and 10000")]
    public int MaxFiresPerTick { get; set; } = 100;

    /// <summary>Fires older than a schedule's catch-up window recorded as missed, newest first; older ones are passed over unrecorded.</summary>
    [Range(0, 10_000, ErrorMessage = "must be between 0 and 10000")]
    public int MaxMissedFiresRecorded { get; set; } = 100;
}

[OptionsValidator]
public sealed partial class SchedulesOptionsValidator : IValidateOptions<SchedulesOptions>;
