using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Observability;

namespace TaskRunner.Features.Workflows;

/// <summary>
/// Runs started, by workflow name, recorded once the run committed. Names are
/// chosen by clients, so the label is bounded (<see cref="MetricsOptions.MaxLabelValues"/>; later names are <c>other</c>).
/// </summary>
public sealed class WorkflowMetrics
{
    private readonly BoundedLabel names;
    private readonly Counter<long> runsStarted;

    public WorkflowMetrics(IMeterFactory meters, IOptions<MetricsOptions> options)
    {
        names = new BoundedLabel(options.Value.MaxLabelValues);
        runsStarted = meters.Create(Telemetry.ServiceName).CreateCounter<long>("taskrunner.workflows.runs_started", "{run}",
            "Workflow runs started, by workflow name");
    }

    public void RunStarted(string workflow) => runsStarted.Add(1, new KeyValuePair<string, object?>("workflow", names.Of(workflow)));
}
