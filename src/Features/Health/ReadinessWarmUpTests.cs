using TaskRunner.Features.Execution;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Health;

/// <summary>A fixture of its own that no test probes: whatever readiness has connected, it did on its own.</summary>
public sealed class ReadinessWarmUpTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task ReadinessConnectsBeforeTheFirstProbe()
    {
        await service.WaitForAsync(
            "SELECT count(*) >= 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1",
            "taskrunner-readiness");
    }
}
