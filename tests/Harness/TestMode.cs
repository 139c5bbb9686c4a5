namespace TaskRunner.Tests.Harness;

/// <summary>
/// How the service under test runs. In-process by default; black-box when TASKRUNNER_TEST_BINARY names the published AOT
/// binary. Tests that only make sense in one mode carry <c>[Trait("Mode", InProcessOnly)]</c> or
/// <c>[Trait("Mode", BlackBoxOnly)]</c>; `make test` filters on them.
/// </summary>
public static class TestMode
{
    public const string Trait = "Mode";

    /// <summary>Needs the in-process host: test-only endpoints or the service container.</summary>
    public const string InProcessOnly = "InProcess";

    /// <summary>
    /// Needs the service alone in its process: in-process hosts share the process's meters, so what a scraper of one host
    /// reads depends on the other test classes running beside it.
    /// </summary>
    public const string BlackBoxOnly = "BlackBox";

    public static string? BinaryPath { get; } =
        Environment.GetEnvironmentVariable("TASKRUNNER_TEST_BINARY") is { Length: > 0 } path ? Path.GetFullPath(path) : null;

    public static bool IsBlackBox => BinaryPath is not null;
}
