using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Storage;

/// <summary>A file-system attachment store the process cannot write stops it at startup, naming the setting and the folder.</summary>
public sealed class FileSystemStoreCheckTests
{
    [Fact]
    public async Task AnUnwritableFileSystemStoreStopsTheProcessNamingTheSettingAndTheFolder()
    {
        // A folder below a regular file can never be created, whoever runs the test (root ignores permission bits).
        var file = Path.GetTempFileName();
        try
        {
            var unwritable = Path.Combine(file, "attachments");
            await using var service = ServiceProcess.Start(
            [
                .. ServiceFixture.BaseSettings("Host=127.0.0.1;Username=postgres"),
                new("Attachments:Storage", "FileSystem"),
                new("Attachments:FileSystemPath", unwritable),
            ]);

            Assert.Equal(1, await service.WaitForExitAsync(TimeSpan.FromSeconds(30)));
            var line = Assert.Single(service.Output.Split('\n'), line => line.Contains("Invalid configuration", StringComparison.Ordinal));
            Assert.Contains("Attachments:FileSystemPath", line);
            Assert.Contains($"({unwritable}) cannot be written", line);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
