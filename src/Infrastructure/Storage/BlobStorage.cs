using Microsoft.Extensions.Options;
using TaskRunner.Infrastructure.Configuration;

namespace TaskRunner.Infrastructure.Storage;

/// <summary>
/// Where attachment bytes live, addressed by their SHA-256 (lowercase hex): the same content is stored once. An upload is
/// written first and only committed to its address once its hash is known; an upload disposed of uncommitted leaves
/// nothing behind.
/// </summary>
public interface IBlobStorage
{
    /// <summary>Starts an upload whose address is given at <see cref="IBlobUpload.CommitAsync"/>.</summary>
    Task<IBlobUpload> StartUploadAsync(CancellationToken cancellationToken);

    /// <summary>The bytes <paramref name="offset"/> to <paramref name="offset"/> + <paramref name="length"/> of a stored blob.</summary>
    Task<Stream> OpenReadAsync(string sha256, long offset, long length, CancellationToken cancellationToken);

    /// <summary>Removes a blob; removing one that is not there is not an error.</summary>
    Task DeleteAsync(string sha256, CancellationToken cancellationToken);

    /// <summary>Removes what uploads that never finished (a crash mid-upload) left behind before <paramref name="olderThan"/>.</summary>
    Task<int> DeleteAbandonedUploadsAsync(DateTime olderThan, CancellationToken cancellationToken);
}

/// <summary>One upload in progress.</summary>
public interface IBlobUpload : IAsyncDisposable
{
    Task WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken);

    /// <summary>Makes what was written durable at the address <paramref name="sha256"/> (a no-op when that blob exists).</summary>
    Task CommitAsync(string sha256, CancellationToken cancellationToken);
}

public static class BlobStorageSetup
{
    /// <summary>The store <see cref="AttachmentsOptions.Storage"/> names; only the chosen one is ever created.</summary>
    public static IServiceCollection AddBlobStorage(this IServiceCollection services) =>
        services.AddSingleton<IValidateOptions<AttachmentsOptions>, FileSystemStoreCheck>()
            .AddSingleton<IBlobStorage>(provider =>
            {
                var options = provider.GetRequiredService<IOptions<AttachmentsOptions>>().Value;
                return options.Storage == AttachmentsOptions.S3Storage
                    ? new S3BlobStorage(options)
                    : new FileSystemBlobStorage(FileSystemRoot(options));
            });

    /// <summary>The file-system store's folder: <see cref="AttachmentsOptions.FileSystemPath"/>, relative to the binary's.</summary>
    public static string FileSystemRoot(AttachmentsOptions options) => Path.GetFullPath(options.FileSystemPath, AppContext.BaseDirectory);

    /// <summary>Hex SHA-256, the only form of address the stores accept (it also keeps keys and paths free of tricks).</summary>
    public static bool IsAddress(string sha256) =>
        sha256.Length == 64 && sha256.All(character => char.IsAsciiDigit(character) || character is >= 'a' and <= 'f');

    internal static string CheckedAddress(string sha256) =>
        IsAddress(sha256) ? sha256 : throw new ArgumentException("not a lowercase hex SHA-256", nameof(sha256));
}
