namespace TaskRunner.Tests.Harness;

/// <summary>
/// Another node of the same service on the same database, to prove that what one node does every node sees at once.
/// In-process or a second AOT process, following the run's mode.
/// </summary>
public sealed class SecondNode : IAsyncDisposable
{
    private readonly InProcessHost? inProcess;
    private readonly ServiceProcess? process;

    private SecondNode(InProcessHost? inProcess, ServiceProcess? process, Uri baseAddress)
    {
        this.inProcess = inProcess;
        this.process = process;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    /// <summary>Starts a node on the fixture's database, with <paramref name="settings"/> or else the base settings.</summary>
    public static async Task<SecondNode> StartAsync(ServiceFixture service, IEnumerable<KeyValuePair<string, string?>>? settings = null)
    {
        settings ??= ServiceFixture.BaseSettings(service.ConnectionString);
        if (!TestMode.IsBlackBox)
        {
            var host = new InProcessHost(settings);
            return new SecondNode(host, null, host.BaseAddress);
        }
        var started = ServiceProcess.Start(settings);
        if (!await started.WaitUntilListeningAsync(TimeSpan.FromSeconds(30)))
        {
            // Not left running for the rest of the test run.
            await started.DisposeAsync();
            throw new InvalidOperationException("the second node did not start:\n" + started.Output);
        }
        return new SecondNode(null, started, started.BaseAddress);
    }

    public HttpClient CreateClient() => new() { BaseAddress = BaseAddress };

    public async ValueTask DisposeAsync()
    {
        if (inProcess is not null)
            await inProcess.DisposeAsync();
        if (process is not null)
            await process.DisposeAsync();
    }
}
