using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace TaskRunner.Tests.Harness;

/// <summary>
/// The service as a separate OS process: the published AOT binary in black-box mode, else the JIT build of the same code
/// (`dotnet TaskRunner.dll`). Configuration goes in as environment variables, exactly as an operator would set it.
/// </summary>
public sealed partial class ServiceProcess : IAsyncDisposable
{
    private readonly Process process;
    private readonly StringBuilder output = new();

    private ServiceProcess(Process process, Uri baseAddress)
    {
        this.process = process;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    public string Output
    {
        get
        {
            lock (output)
                return output.ToString();
        }
    }

    public bool HasExited => process.HasExited;

    /// <summary>Where the started service reads its settings files: beside its binary.</summary>
    public static string ContentRoot => TestMode.BinaryPath is { } binary ? Path.GetDirectoryName(binary)! : AppContext.BaseDirectory;

    public static ServiceProcess Start(IEnumerable<KeyValuePair<string, string?>> settings, int? httpPort = null, string environment = "Testing")
    {
        var port = httpPort ?? FreePort();
        var start = TestMode.BinaryPath is { } binary
            ? new ProcessStartInfo(binary) { WorkingDirectory = Path.GetDirectoryName(binary)! }
            : new ProcessStartInfo("dotnet", Path.Combine(AppContext.BaseDirectory, "TaskRunner.dll"))
            {
                WorkingDirectory = AppContext.BaseDirectory,
            };
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        start.Environment["Urls"] = $"http://127.0.0.1:{port}";
        start.Environment["ASPNETCORE_ENVIRONMENT"] = environment;
        foreach (var (key, value) in settings)
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var service = new ServiceProcess(process, new Uri($"http://127.0.0.1:{port}"));
        process.OutputDataReceived += (_, line) => service.Append(line.Data);
        process.ErrorDataReceived += (_, line) => service.Append(line.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return service;
    }

    /// <summary>Waits until /health/live answers; false if the process exited or the time ran out.</summary>
    public async Task<bool> WaitUntilListeningAsync(TimeSpan timeout)
    {
        using var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout && !process.HasExited)
        {
            try
            {
                using var response = await client.GetAsync("/health/live");
                if (response.IsSuccessStatusCode)
                    return true;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // Not listening yet, or too busy starting (a loaded machine) to answer within the probe's 2 s: ask again.
            }
            await Task.Delay(25);
        }
        return false;
    }

    /// <summary>What a container runtime does to stop the service.</summary>
    public void Terminate()
    {
        if (!process.HasExited)
            _ = Kill(process.Id, Sigterm);
    }

    /// <summary>A crash: SIGKILL, no shutdown of any kind (what the OOM killer or a lost machine does).</summary>
    public void Kill()
    {
        if (!process.HasExited)
            process.Kill();
    }

    /// <summary>
    /// Freezes the process (SIGSTOP): it sends nothing, yet its kernel keeps its TCP connections open and acknowledged —
    /// to the database it looks like a node cut off by a partition.
    /// </summary>
    public void Pause()
    {
        if (!process.HasExited)
            _ = Kill(process.Id, Sigstop);
    }

    /// <summary>Thaws a paused process (SIGCONT).</summary>
    public void Resume()
    {
        if (!process.HasExited)
            _ = Kill(process.Id, Sigcont);
    }

    /// <summary>The exit code, or null if it did not exit in time.</summary>
    public async Task<int?> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancellation = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancellation.Token);
            return process.ExitCode;
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        Terminate();
        if (await WaitForExitAsync(TimeSpan.FromSeconds(10)) is null)
            process.Kill(entireProcessTree: true);
        process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
            return;
        lock (output)
            output.AppendLine(line);
    }

    private static readonly ConcurrentDictionary<int, byte> HandedOut = new();

    /// <summary>
    /// A free port below the kernel's ephemeral range (32768–60999 by default). A port the kernel picks for a bind to 0 is
    /// an ephemeral one, and until the service binds it, any outgoing connection of the busy test run may be given it as
    /// its local port: the service then fails to start with "address already in use". Below the range only another
    /// caller of this method competes, and ports are handed out once per test process.
    /// </summary>
    public static int FreePort()
    {
        while (true)
        {
            var port = Random.Shared.Next(20_000, 32_000);
            if (!HandedOut.TryAdd(port, 0))
                continue;
            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                return port;
            }
            catch (SocketException)
            {
                // Taken by something else: another.
            }
        }
    }

    private const int Sigterm = 15;
    private const int Sigcont = 18;
    private const int Sigstop = 19;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
