using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace TaskRunner.Infrastructure.Configuration;

/// <summary>Attachments: where their bytes live, what may be uploaded, and how thumbnails are made. Section <c>Attachments</c>.</summary>
public sealed class AttachmentsOptions : IValidatableObject
{
    public const string Section = "Attachments";

    public const string FileSystemStorage = "FileSystem";
    public const string S3Storage = "S3";

    /// <summary><c>FileSystem</c> (the default) or <c>S3</c> (any S3-compatible object store).</summary>
    public string Storage { get; set; } = FileSystemStorage;

    /// <summary>The folder of the file-system store; relative paths are relative to the service's folder.</summary>
    public string FileSystemPath { get; set; } = "attachments";

    /// <summary>The S3 endpoint (<c>https://s3.eu-west-1.amazonaws.com</c>, or a MinIO/Ceph/R2 address). Empty: AWS for <see cref="S3Region"/>.</summary>
    public string S3ServiceUrl { get; set; } = "";

    public string S3Region { get; set; } = "us-east-1";

    public string S3Bucket { get; set; } = "";

    /// <summary>Static credentials; both empty: the SDK's default chain (environment, web identity, instance profile).</summary>
    public string S3AccessKey { get; set; } = "";

    public string S3SecretKey { get; set; } = "";

    /// <summary>Path-style addresses (<c>host/bucket/key</c>), which most self-hosted stores need.</summary>
    public bool S3ForcePathStyle { get; set; } = true;

    /// <summary>
    /// Send and verify checksums only when an operation requires them (the SDK's default is on every request with
    /// aws-chunked bodies, which some S3-compatible stores do not understand). The content is verified by its SHA-256 anyway.
    /// </summary>
    public bool S3ChecksumsWhenRequiredOnly { get; set; } = true;

    /// <summary>Uploads larger than one part go up as a multipart upload in parts of this size (S3's minimum is 5 MiB).</summary>
    [Range(5 * 1024 * 1024, 512 * 1024 * 1024, ErrorMessage = "must be between 5242880 and 536870912")]
    public int S3PartSizeBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>The largest file one upload may carry; one byte more is a 413.</summary>
    [Range(1, 5L * 1024 * 1024 * 1024, ErrorMessage = "must be between 1 and 5368709120")]
    public long MaxSizeBytes { get; set; } = 100L * 1024 * 1024;

    /// <summary>The bytes the live attachments of one project may add up to.</summary>
    [Range(1, long.MaxValue, ErrorMessage = "must be at least 1")]
    public long ProjectQuotaBytes { get; set; } = 10L * 1024 * 1024 * 1024;

    /// <summary>
    /// The content types that may be uploaded, comma-separated, as detected from the file's first bytes (see
    /// docs/attachments.md for the types the detection knows). HTML, SVG, XML and JavaScript, when allowed, are only ever
    /// served as downloads, never inline.
    /// </summary>
    public string AllowedTypes { get; set; } =
        "image/png,image/jpeg,image/gif,image/webp,application/pdf,application/zip,application/gzip,text/plain,text/csv,text/markdown,application/json";

    /// <summary>Soft-deleted attachments are purged after this many days; their blobs go once nothing references them.</summary>
    [Range(1, 36_500, ErrorMessage = "must be between 1 and 36500")]
    public int RetentionDays { get; set; } = 30;

    /// <summary>Minutes between two purge sweeps on each node.</summary>
    [Range(1, 10_080, ErrorMessage = "must be between 1 and 10080")]
    public int RetentionSweepMinutes { get; set; } = 60;

    /// <summary>Rows purged per statement.</summary>
    [Range(1, 100_000, ErrorMessage = "must be between 1 and 100000")]
    public int RetentionBatchSize { get; set; } = 500;

    /// <summary>An unreferenced blob is kept this long after its last upload, covering uploads between storing and recording it.</summary>
    [Range(1, 10_080, ErrorMessage = "must be between 1 and 10080")]
    public int OrphanGraceMinutes { get; set; } = 10;

    /// <summary>Whether images get thumbnails; off, the imaging library is never loaded.</summary>
    public bool ThumbnailsEnabled { get; set; } = true;

    /// <summary>The longest edge of a thumbnail, in pixels.</summary>
    [Range(16, 2048, ErrorMessage = "must be between 16 and 2048")]
    public int ThumbnailMaxEdge { get; set; } = 256;

    /// <summary>Images with more pixels than this are refused a thumbnail (decompression bombs).</summary>
    [Range(1, 1_000_000_000, ErrorMessage = "must be between 1 and 1000000000")]
    public long ThumbnailMaxPixels { get; set; } = 50_000_000;

    /// <summary>Thumbnails made at once on each node.</summary>
    [Range(1, 64, ErrorMessage = "must be between 1 and 64")]
    public int ThumbnailWorkers { get; set; } = 1;

    /// <summary>Attempts of a job that fails for a passing reason (storage unreachable) before it is recorded as failed.</summary>
    [Range(1, 100, ErrorMessage = "must be between 1 and 100")]
    public int ThumbnailMaxAttempts { get; set; } = 3;

    /// <summary>How long a claimed job is its worker's; after that another worker may take it.</summary>
    [Range(5, 3600, ErrorMessage = "must be between 5 and 3600")]
    public int ThumbnailLeaseSeconds { get; set; } = 60;

    /// <summary>How often an idle worker looks for jobs enqueued by other nodes (its own node wakes it at once).</summary>
    [Range(50, 600_000, ErrorMessage = "must be between 50 and 600000")]
    public int ThumbnailPollMilliseconds { get; set; } = 2000;

    /// <summary>The allow-list, parsed.</summary>
    public IReadOnlySet<string> AllowedTypeSet() =>
        AllowedTypes.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(type => type.ToLowerInvariant()).ToHashSet(StringComparer.Ordinal);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Storage is not (FileSystemStorage or S3Storage))
            yield return new ValidationResult($"must be {FileSystemStorage} or {S3Storage}", [nameof(Storage)]);
        if (Storage == FileSystemStorage && string.IsNullOrWhiteSpace(FileSystemPath))
            yield return new ValidationResult("is required when Storage is FileSystem", [nameof(FileSystemPath)]);
        if (Storage == S3Storage && string.IsNullOrWhiteSpace(S3Bucket))
            yield return new ValidationResult("is required when Storage is S3", [nameof(S3Bucket)]);
        if (Storage == S3Storage && S3ServiceUrl.Length > 0 && !Uri.TryCreate(S3ServiceUrl, UriKind.Absolute, out _))
            yield return new ValidationResult("must be an absolute URL", [nameof(S3ServiceUrl)]);
        if (string.IsNullOrEmpty(S3AccessKey) != string.IsNullOrEmpty(S3SecretKey))
            yield return new ValidationResult("must be set together with S3AccessKey (or both left empty)", [nameof(S3SecretKey)]);
        if (AllowedTypeSet().Count == 0)
            yield return new ValidationResult("must name at least one content type", [nameof(AllowedTypes)]);
    }
}

[OptionsValidator]
public sealed partial class AttachmentsOptionsValidator : IValidateOptions<AttachmentsOptions>;
