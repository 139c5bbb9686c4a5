namespace TaskRunner.Tests.Harness;

public static class Repository
{
    /// <summary>The checkout's root: the folder holding TaskRunner.csproj, found upwards from the test binaries.</summary>
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "TaskRunner.csproj")))
                return directory.FullName;
        }
        throw new InvalidOperationException("cannot find the repository root (TaskRunner.csproj) above " + AppContext.BaseDirectory);
    }
}
