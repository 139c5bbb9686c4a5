using System.Diagnostics;

namespace TaskRunner.Tests.Harness;

/// <summary>What a script printed and how it ended.</summary>
public sealed record ScriptResult(int ExitCode, string Output, string Error);

/// <summary>The project's own scripts (scripts/pg.sh, deploy/validate-manifests.sh, ...), run the way a developer runs them.</summary>
public static class Scripts
{
    /// <summary>Runs scripts/<paramref name="name"/>; returns its standard output, throws with its errors if it fails.</summary>
    public static async Task<string> RunAsync(string name, string arguments)
    {
        var result = await ExecuteAsync(Path.Combine("scripts", name), arguments);
        if (result.ExitCode != 0)
            throw new InvalidOperationException($"scripts/{name} {arguments} failed ({result.ExitCode}): {result.Error}");
        return result.Output;
    }

    /// <summary>Runs the script at <paramref name="path"/> (relative to the repository root) and returns how it ended.</summary>
    public static async Task<ScriptResult> ExecuteAsync(string path, string arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        var startInfo = new ProcessStartInfo(Path.Combine(Repository.Root, path), arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
            startInfo.Environment[name] = value;
        using var process = Process.Start(startInfo)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return new ScriptResult(process.ExitCode, await output, await error);
    }
}
