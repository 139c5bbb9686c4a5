using System.Diagnostics;

namespace TaskRunner.Tests.Harness;

/// <summary>The project's own scripts (scripts/pg.sh, scripts/redis.sh), run the way a developer runs them.</summary>
public static class Scripts
{
    /// <summary>Runs scripts/<paramref name="name"/>; returns its standard output, throws with its errors if it fails.</summary>
    public static async Task<string> RunAsync(string name, string arguments)
    {
        var file = Path.Combine(Repository.Root, "scripts", name);
        using var process = Process.Start(new ProcessStartInfo(file, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{file} {arguments} failed ({process.ExitCode}): {await error}");
        return await output;
    }
}
