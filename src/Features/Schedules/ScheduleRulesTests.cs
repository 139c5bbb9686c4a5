using TaskRunner.Infrastructure.Http;
using Xunit;

namespace TaskRunner.Features.Schedules;

/// <summary>The next-fire arithmetic and its daylight-saving policy, on real IANA zones, without waiting for real time.</summary>
public sealed class ScheduleRulesTests
{
    private static readonly TimeZoneInfo Berlin = ScheduleRules.FindZone("Europe/Berlin")!;

    private static DateTime Utc(int year, int month, int day, int hour, int minute, int second = 0) =>
        new(year, month, day, hour, minute, second, DateTimeKind.Utc);

    private static List<DateTime> Fires(string cron, DateTime from, DateTime to) =>
        ScheduleRules.FiresBetween(ScheduleRules.Parse(cron), Berlin, from, to).ToList();

    [Fact]
    public void AWallTimeSkippedBySpringForwardFiresOnceAtTheFirstInstantAfterTheGap()
    {
        // 2026-03-29 in Berlin: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist that day.
        var fires = Fires("30 2 * * *", Utc(2026, 3, 28, 0, 0), Utc(2026, 3, 30, 12, 0));

        Assert.Equal([Utc(2026, 3, 28, 1, 30), Utc(2026, 3, 29, 1, 0), Utc(2026, 3, 30, 0, 30)], fires);
        Assert.Equal(new DateTime(2026, 3, 29, 3, 0, 0), TimeZoneInfo.ConvertTimeFromUtc(fires[1], Berlin));
    }

    [Fact]
    public void AWallTimeRepeatedByFallBackFiresOnceAtItsFirstOccurrence()
    {
        // 2026-10-25 in Berlin: 03:00 CEST falls back to 02:00 CET, so 02:30 happens twice (00:30Z and 01:30Z).
        var fires = Fires("30 2 * * *", Utc(2026, 10, 24, 12, 0), Utc(2026, 10, 26, 12, 0));

        Assert.Equal([Utc(2026, 10, 25, 0, 30), Utc(2026, 10, 26, 1, 30)], fires);
    }

    [Fact]
    public void AnHourlyExpressionKeepsItsRealTimeRhythmThroughBothTransitions()
    {
        Assert.Equal(
            [Utc(2026, 10, 24, 23, 0), Utc(2026, 10, 25, 0, 0), Utc(2026, 10, 25, 1, 0), Utc(2026, 10, 25, 2, 0)],
            Fires("0 * * * *", Utc(2026, 10, 24, 23, 0), Utc(2026, 10, 25, 2, 0)));
        Assert.Equal(
            [Utc(2026, 3, 29, 0, 0), Utc(2026, 3, 29, 1, 0), Utc(2026, 3, 29, 2, 0)],
            Fires("0 * * * *", Utc(2026, 3, 29, 0, 0), Utc(2026, 3, 29, 2, 0)));
    }

    [Fact]
    public void TheNextFireIsStrictlyAfterTheGivenInstantAndSixFieldsMeanSeconds()
    {
        var cron = ScheduleRules.Parse("*/15 * * * * *");

        Assert.Equal(Utc(2026, 1, 1, 0, 0, 15), ScheduleRules.NextFire(cron, TimeZoneInfo.Utc, Utc(2026, 1, 1, 0, 0, 0)));
        Assert.Equal(Utc(2026, 1, 1, 0, 1), ScheduleRules.NextFire(ScheduleRules.Parse("* * * * *"), TimeZoneInfo.Utc, Utc(2026, 1, 1, 0, 0, 0)));
    }

    [Fact]
    public void FiresOlderThanTheCatchUpWindowAreMissedAndTheRestAreDue()
    {
        var now = Utc(2026, 5, 1, 12, 0, 30);
        var plan = ScheduleRules.PlanFires(ScheduleRules.Parse("* * * * *"), TimeZoneInfo.Utc, Utc(2026, 5, 1, 11, 50),
            now, catchUpSeconds: 150, maxDue: 100, maxMissedRecorded: 100);

        Assert.Equal(Enumerable.Range(0, 8).Select(minute => Utc(2026, 5, 1, 11, 50 + minute)), plan.Missed);
        Assert.Equal([Utc(2026, 5, 1, 11, 58), Utc(2026, 5, 1, 11, 59), Utc(2026, 5, 1, 12, 0)], plan.Due);
        Assert.Equal(Utc(2026, 5, 1, 12, 1), plan.Next);
    }

    [Fact]
    public void ABacklogLongerThanOneTickLeavesTheScheduleDueAtTheFirstFireLeftOver()
    {
        var plan = ScheduleRules.PlanFires(ScheduleRules.Parse("* * * * * *"), TimeZoneInfo.Utc, Utc(2026, 5, 1, 12, 0),
            Utc(2026, 5, 1, 12, 1), catchUpSeconds: 3600, maxDue: 10, maxMissedRecorded: 100);

        Assert.Empty(plan.Missed);
        Assert.Equal(10, plan.Due.Count);
        Assert.Equal(Utc(2026, 5, 1, 12, 0, 10), plan.Next);
    }

    [Fact]
    public void OnlyTheLatestMissedFiresAreRecorded()
    {
        var plan = ScheduleRules.PlanFires(ScheduleRules.Parse("* * * * *"), TimeZoneInfo.Utc, Utc(2026, 5, 1, 0, 0),
            Utc(2026, 5, 1, 12, 0, 30), catchUpSeconds: 0, maxDue: 100, maxMissedRecorded: 3);

        Assert.Equal([Utc(2026, 5, 1, 11, 58), Utc(2026, 5, 1, 11, 59), Utc(2026, 5, 1, 12, 0)], plan.Missed);
        Assert.Empty(plan.Due);
    }

    [Theory]
    [InlineData("61 * * * *")]
    [InlineData("* * *")]
    [InlineData("")]
    public void AnInvalidCronExpressionIsAFieldError(string cron)
    {
        var errors = new ValidationErrors();

        Assert.Null(ScheduleRules.Cron(errors, "cron", cron));
        Assert.False(errors.IsEmpty);
    }

    [Theory]
    [InlineData("Mars/Olympus")]
    [InlineData("W. Europe Standard Time")]
    public void OnlyIanaTimeZonesAreAccepted(string zone)
    {
        var errors = new ValidationErrors();

        Assert.Null(ScheduleRules.TimeZone(errors, "timezone", zone));
        Assert.False(errors.IsEmpty);
    }
}
