using Microsoft.Extensions.Options;
using TaskRunner.Infrastructure.Configuration;

namespace TaskRunner.Infrastructure.Storage;

/// <summary>
/// At startup, with the file-system store chosen: its folders can be created, a file written in <c>uploads/</c> and renamed
/// into <c>blobs/</c> (the two on one file system, as the atomic rename needs). Otherwise the process stops with
/// "Invalid configuration: Attachments:FileSystemPath …" instead of serving and answering the first upload with a 500 — a
/// container whose image folder is read-only and has no volume mounted there stops at once, and its rollout with it.
/// </summary>
public sealed class FileSystemStoreCheck : IValidateOptions<AttachmentsOptions>
{
    public ValidateOptionsResult Validate(string? name, AttachmentsOptions options)
    {
        if (options.Storage != AttachmentsOptions.FileSystemStorage || string.IsNullOrWhiteSpace(options.FileSystemPath))
            return ValidateOptionsResult.Skip;
        var root = BlobStorageSetup.FileSystemRoot(options);
        try
        {
            var probe = Guid.NewGuid().ToString("N");
            var written = Path.Combine(Directory.CreateDirectory(Path.Combine(root, "uploads")).FullName, probe);
            var renamed = Path.Combine(Directory.CreateDirectory(Path.Combine(root, "blobs")).FullName, probe);
            File.WriteAllBytes(written, []);
            File.Move(written, renamed);
            File.Delete(renamed);
            return ValidateOptionsResult.Success;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return ValidateOptionsResult.Fail($"{nameof(AttachmentsOptions.FileSystemPath)} ({root}) cannot be written: {e.Message} "
                + "Mount a writable volume there, point the setting at one, or set Attachments:Storage to S3.");
        }
    }
}
