using TaskRunner.Infrastructure.Http;

namespace TaskRunner.Features.Execution;

public sealed record CreateConcurrencyRuleRequest([property: ApiRequired] string? ConcurrencyKey, [property: ApiRequired] int? MaxRunning);

/// <summary>A rule and, for operators, how many tasks with its key run right now.</summary>
public sealed record ConcurrencyRuleResponse(Guid Id, string ConcurrencyKey, int MaxRunning, int Running, DateTime CreatedAt);

/// <summary>
/// What the concurrency-rule use cases (<see cref="ListConcurrencyRules"/>, <see cref="CreateConcurrencyRule"/>,
/// <see cref="DeleteConcurrencyRule"/>) share. A concurrency key is global — tasks of every project that
/// carry it share its limit — so any signed-in caller may read the rules but only admins create or delete them: a
/// member's rule would throttle other teams' tasks. A rule created while more tasks than its limit run admits nothing new
/// until they are below it; deleting a rule lifts the limit at once.
/// </summary>
public static class ConcurrencyRules
{
    public const int MaxRunningLimit = 100_000;

    internal sealed record RuleRow(Guid Id, string ConcurrencyKey, int MaxRunning, int Running, DateTime CreatedAt)
    {
        public ConcurrencyRuleResponse ToResponse() => new(Id, ConcurrencyKey, MaxRunning, Running, CreatedAt);
    }

}
