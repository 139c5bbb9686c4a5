namespace TaskRunner.Tests.Harness;

/// <summary>
/// A real S3-compatible server (s3rver) for the S3 storage tests: TASKRUNNER_TEST_S3 (its URL) when `make test` provides
/// it, else `scripts/s3.sh start test` is run here. Test classes share its bucket and keep apart by content (blobs are
/// addressed by hash) — a class that purges only ever deletes blobs its own database recorded.
/// </summary>
public static class TestS3
{
    public const string Bucket = "taskrunner-test";
    public const string AccessKey = "S3RVER";
    public const string SecretKey = "S3RVER";

    private static readonly Lazy<Task<string>> Shared = new(async () =>
    {
        if (Environment.GetEnvironmentVariable("TASKRUNNER_TEST_S3") is { Length: > 0 } configured)
            return configured;
        await Scripts.RunAsync("s3.sh", "start test");
        return (await Scripts.RunAsync("s3.sh", "url test")).Trim();
    });

    public static Task<string> UrlAsync() => Shared.Value;

    /// <summary>The settings that put a service's attachments in the shared bucket.</summary>
    public static async Task<IEnumerable<KeyValuePair<string, string?>>> SettingsAsync() =>
    [
        new("Attachments:Storage", "S3"),
        new("Attachments:S3ServiceUrl", await UrlAsync()),
        new("Attachments:S3Bucket", Bucket),
        new("Attachments:S3AccessKey", AccessKey),
        new("Attachments:S3SecretKey", SecretKey),
    ];
}
