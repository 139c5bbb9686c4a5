using System.Globalization;
using Xunit.Abstractions;

namespace TaskRunner.Tests.Harness;

/// <summary>
/// Figures a fault test measures (a recovery time, a drain time). The suites assert correctness only; the figures go to
/// the test's output and, when TASKRUNNER_FAULT_FIGURES names a file, to that file as "name value" lines, which the
/// scripts in load/ read and print (docs/reliability.md).
/// </summary>
public static class FaultFigures
{
    private static readonly Lock FileLock = new();

    /// <summary>How many tasks, requests or rounds a fault test runs: its value in `make test`, unless the load script
    /// asks for more through the environment variable <paramref name="variable"/>.</summary>
    public static int Scale(string variable, int inMakeTest) =>
        int.TryParse(Environment.GetEnvironmentVariable(variable), NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0
            ? value
            : inMakeTest;

    public static void Report(ITestOutputHelper output, string name, double value)
    {
        var line = $"{name} {value.ToString("0.###", CultureInfo.InvariantCulture)}";
        output.WriteLine(line);
        if (Environment.GetEnvironmentVariable("TASKRUNNER_FAULT_FIGURES") is not { Length: > 0 } file)
            return;
        lock (FileLock)
            File.AppendAllText(file, line + "\n");
    }
}
