using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Cronos;
using TaskRunner.Features.Tasks.CreateTasks;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Schedules;

/// <summary>The fire times one scheduler transaction handles for a schedule, and where the schedule goes next.</summary>
public sealed record FirePlan(IReadOnlyList<DateTime> Missed, IReadOnlyList<DateTime> Due, DateTime? Next);

/// <summary>
/// The field rules of a schedule and its time arithmetic. Cron expressions are Cronos': five fields
/// (<c>minute hour day month weekday</c>), six with a leading seconds field, or a macro (<c>@hourly</c>, <c>@daily</c>).
/// Wall times are read in the schedule's IANA time zone, with this daylight-saving policy (Cronos' own):
/// <list type="bullet">
/// <item>a wall time that does not exist (skipped by the spring-forward gap) fires once, at the first valid instant after
/// the gap (02:30 on a day Europe/Berlin jumps 02:00 → 03:00 fires at 03:00 CEST);</item>
/// <item>a wall time that occurs twice (the fall-back hour) fires once, at its first occurrence (summer time);</item>
/// <item>an expression stepping through the hour (<c>*</c> or <c>*/n</c> in the seconds, minutes or hours field) keeps its
/// rhythm in real time, so it also fires during the repeated hour: "every 30 minutes" stays every 30 minutes.</item>
/// </list>
/// </summary>
public static class ScheduleRules
{
    public const string Skip = "skip";
    public const string Allow = "allow";
    public const int DefaultCatchUpSeconds = 300;
    public const int MaxCatchUpSeconds = 604_800;
    public const int MaxCronLength = 200;

    /// <summary>Keys the scheduler adds to the metadata of every task it creates.</summary>
    public const string ScheduleIdKey = "schedule_id";
    public const string FireTimeKey = "schedule_fire_time";

    public static CronExpression? Cron(ValidationErrors errors, string path, string? cron)
    {
        if (!errors.RequireLength(path, cron, 1, MaxCronLength))
            return null;
        try
        {
            return Parse(cron!);
        }
        catch (CronFormatException e)
        {
            errors.Add(path, "is not a valid cron expression (5 fields, 6 with seconds first, or @hourly-style): " + e.Message);
            return null;
        }
    }

    /// <summary>Parses a cron expression: six fields means seconds first.</summary>
    public static CronExpression Parse(string cron)
    {
        var fields = cron.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Length;
        return CronExpression.Parse(cron.Trim(), fields == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard);
    }

    /// <summary>An IANA time zone id (<c>Europe/Berlin</c>, <c>UTC</c>); Windows ids are refused so stored schedules stay portable.</summary>
    public static TimeZoneInfo? TimeZone(ValidationErrors errors, string path, string? timezone)
    {
        if (!errors.RequireLength(path, timezone, 1, 100))
            return null;
        if (FindZone(timezone!) is { } zone)
            return zone;
        errors.Add(path, "must be an IANA time zone id, such as Europe/Berlin or UTC");
        return null;
    }

    public static TimeZoneInfo? FindZone(string timezone) =>
        TimeZoneInfo.TryFindSystemTimeZoneById(timezone, out var zone) && zone.HasIanaId ? zone : null;

    public static void OverlapPolicy(ValidationErrors errors, string path, string? policy)
    {
        if (policy is not null and not (Skip or Allow))
            errors.Add(path, "must be skip or allow");
    }

    public static void CatchUpSeconds(ValidationErrors errors, string path, int? seconds)
    {
        if (seconds is < 0 or > MaxCatchUpSeconds)
            errors.Add(path, $"must be between 0 and {MaxCatchUpSeconds} (7 days)");
    }

    /// <summary>The first fire time strictly after <paramref name="afterUtc"/>, in UTC; null if the expression never fires again.</summary>
    public static DateTime? NextFire(CronExpression cron, TimeZoneInfo zone, DateTime afterUtc) =>
        cron.GetNextOccurrence(DateTime.SpecifyKind(afterUtc, DateTimeKind.Utc), zone, inclusive: false);

    /// <summary>The first fire after now of a cron being saved; a cron that never fires is an error at <paramref name="field"/>.</summary>
    public static DateTime? FirstFire(ValidationErrors errors, string field, CronExpression cron, TimeZoneInfo zone)
    {
        var next = NextFire(cron, zone, DateTime.UtcNow);
        if (next is null)
            errors.Add(field, "never fires: no date matches it");
        return next;
    }

    /// <summary>Every fire time from <paramref name="fromUtc"/> (inclusive) to <paramref name="toUtc"/> (inclusive), in order.</summary>
    public static IEnumerable<DateTime> FiresBetween(CronExpression cron, TimeZoneInfo zone, DateTime fromUtc, DateTime toUtc) =>
        cron.GetOccurrences(DateTime.SpecifyKind(fromUtc, DateTimeKind.Utc), DateTime.SpecifyKind(toUtc, DateTimeKind.Utc), zone,
            fromInclusive: true, toInclusive: true);

    /// <summary>
    /// What a schedule whose next fire time was <paramref name="nextFireAt"/> does at <paramref name="now"/>: fire times
    /// older than the catch-up window are <see cref="FirePlan.Missed"/> (only the latest <paramref name="maxMissedRecorded"/>
    /// kept), those within it are <see cref="FirePlan.Due"/> (at most <paramref name="maxDue"/>; a longer backlog makes
    /// <see cref="FirePlan.Next"/> the first left over, so it is still due), and <see cref="FirePlan.Next"/> is otherwise
    /// the first fire time after now.
    /// </summary>
    public static FirePlan PlanFires(
        CronExpression cron, TimeZoneInfo zone, DateTime nextFireAt, DateTime now, int catchUpSeconds, int maxDue, int maxMissedRecorded)
    {
        var windowStart = now.AddSeconds(-catchUpSeconds);
        var missed = new Queue<DateTime>();
        var due = new List<DateTime>();
        foreach (var fire in FiresBetween(cron, zone, nextFireAt, now))
        {
            if (fire < windowStart)
            {
                if (maxMissedRecorded == 0)
                    continue;
                if (missed.Count == maxMissedRecorded)
                    missed.Dequeue();
                missed.Enqueue(fire);
                continue;
            }
            if (due.Count == maxDue)
                return new FirePlan([.. missed], due, fire);
            due.Add(fire);
        }
        return new FirePlan([.. missed], due, NextFire(cron, zone, now));
    }

    /// <summary>
    /// Validates a task template as the task it will become — the same rules as POST /tasks, on the metadata the scheduler
    /// will add — and returns it as stored (JSON). A template names no project (the schedule's), no parents, no dedupe key
    /// (overlap_policy decides about unfinished runs) and no scheduled_at (the fire time is the schedule).
    /// </summary>
    public static string? Template(
        ValidationErrors errors, string path, CreateTaskRequest? task, Guid projectId, Guid scheduleId, DestinationPolicy destinations)
    {
        if (task is null)
        {
            errors.Add(path, "is required: the task to create at each fire time");
            return null;
        }
        if (task.ProjectId is not null)
            errors.Add(path + ".project_id", "is the schedule's project_id; leave it out of the template");
        if (task.DependsOn is { Length: > 0 })
            errors.Add(path + ".depends_on", "is not supported in a schedule's template");
        if (task.DedupeKey is not null)
            errors.Add(path + ".dedupe_key", "is not supported in a schedule's template; overlap_policy decides about unfinished runs");
        if (task.ScheduledAt is not null)
            errors.Add(path + ".scheduled_at", "is not supported in a schedule's template; the fire time is when the task is created");
        if (task.Metadata is { } metadata && !StorableJson.Check(errors, path + ".metadata", metadata))
            return null; // stamping decodes the metadata's strings, and a lone surrogate cannot be decoded
        TaskPlan.BuildStandalone(Stamp(task, scheduleId, DateTime.UtcNow), projectId, path, destinations, errors);
        return JsonSerializer.Serialize(task, AppJsonContext.Default.CreateTaskRequest);
    }

    /// <summary>The template with the schedule's keys added to its metadata (overwriting any of the same name).</summary>
    public static CreateTaskRequest Stamp(CreateTaskRequest task, Guid scheduleId, DateTime fireTime)
    {
        JsonObject metadata;
        if (task.Metadata is not { } element || element.ValueKind == JsonValueKind.Null)
            metadata = [];
        else if (element.ValueKind == JsonValueKind.Object)
            metadata = JsonObject.Create(element)!;
        else
            return task; // not an object: the metadata rule reports it
        metadata[ScheduleIdKey] = scheduleId.ToString();
        metadata[FireTimeKey] = DateTime.SpecifyKind(fireTime, DateTimeKind.Utc).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        using var document = JsonDocument.Parse(metadata.ToJsonString());
        return task with { Metadata = document.RootElement.Clone() };
    }
}
