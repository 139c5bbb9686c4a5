using System.Text.Json;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;

namespace TaskRunner.Features.Execution;

/// <summary>
/// The engine's hook for a start webhook answered with the outcome (synchronous completion). Delivery hands over what the
/// receiver answered; the engine completes the attempt that delivery started, with its own options and metrics, exactly as
/// a worker's report would. This is all delivery knows of the engine.
/// </summary>
public interface IStartedAttemptCompletion
{
    /// <summary>The report's result: <c>ok</c>, or <c>conflict</c> with why it was not applied.</summary>
    Task<CompleteResultResponse> CompleteAsync(
        Guid taskId, int attempt, long? leaseToken, string status, JsonElement? output, string? reportedError, CancellationToken cancellationToken);
}

public sealed class StartedAttemptCompletion(NpgsqlDataSource dataSource, IOptions<EngineOptions> options, EngineMetrics metrics)
    : IStartedAttemptCompletion
{
    public Task<CompleteResultResponse> CompleteAsync(
        Guid taskId, int attempt, long? leaseToken, string status, JsonElement? output, string? reportedError, CancellationToken cancellationToken) =>
        CompleteTasks.CompleteStartedAttemptAsync(dataSource, taskId, attempt, leaseToken, status, output, reportedError, options.Value, metrics,
            cancellationToken);
}
