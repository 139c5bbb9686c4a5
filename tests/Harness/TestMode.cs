namespace TaskRunner.Tests.Harness;

/// <summary>
/// How the service under test runs. In-process by default; black-box when TASKRUNNER_TEST_BINARY names the published AOT
/// binary. Tests that only make sense in one mode carry <c>[Trait("Mode", InProcessOnly)]</c>; `make test` filters on it.
/// </summary>
public static class TestMode
{
    public const string Trait = "Mode";

    /// <summary>Needs the in-process host: test-only endpoints or the service container.</summary>
    public const string InProcessOnly = "InProcess";

    public static string? BinaryPath { get; } =
        Environment.GetEnvironmentVariable("TASKRUNNER_TEST_BINARY") is { Length: > 0 } path ? Path.GetFullPath(path) : null;

    public static bool IsBlackBox => BinaryPath is not null;
}
