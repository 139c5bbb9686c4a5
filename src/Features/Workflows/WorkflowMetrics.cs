using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Observability;

namespace TaskRunner.Features.Workflows;

/// <summary>
/// Runs started, by workflow name and trigger (<c>api</c> or <c>schedule</c>), recorded once the run committed. Names are
/// chosen by clients, so the label is bounded (<see cref="MetricsOptions.MaxLabelValues"/>; later names are <c>other</c>).
/// </summary>
public sealed class WorkflowMetrics
{
    public const string ByApi = "api";
    public const string BySchedule = "schedule";

    private readonly BoundedLabel names;
    private readonly Counter<long> runsStarted;

    public WorkflowMetrics(IMeterFactory meters, IOptions<MetricsOptions> options)
    {
        names = new BoundedLabel(options.Value.MaxLabelValues);
        runsStarted = meters.Create(Telemetry.ServiceName).CreateCounter<long>("taskrunner.workflows.runs_started", "{run}",
            "Workflow runs started, by workflow name and trigger (api, schedule)");
    }

    public void RunStarted(string workflow, string trigger) => runsStarted.Add(1,
        new KeyValuePair<string, object?>("workflow", names.Of(workflow)), new KeyValuePair<string, object?>("trigger", trigger));
}
