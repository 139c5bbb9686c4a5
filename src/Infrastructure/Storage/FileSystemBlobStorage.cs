using System.Runtime.InteropServices;

namespace TaskRunner.Infrastructure.Storage;

/// <summary>
/// Blobs as files under <c>root/blobs/ab/cd/abcd…</c> (two levels of fan-out keep folders small). An upload is written to
/// <c>root/uploads/</c>, fsynced, then renamed to its address (atomic on one file system) and the folder fsynced, so a blob
/// at its address is always complete, even after a crash.
/// </summary>
public sealed class FileSystemBlobStorage : IBlobStorage
{
    private readonly string blobs;
    private readonly string uploads;

    public FileSystemBlobStorage(string root)
    {
        blobs = Path.Combine(root, "blobs");
        uploads = Path.Combine(root, "uploads");
        Directory.CreateDirectory(blobs);
        Directory.CreateDirectory(uploads);
    }

    public Task<IBlobUpload> StartUploadAsync(CancellationToken cancellationToken)
    {
        var path = Path.Combine(uploads, Guid.NewGuid().ToString("N"));
        // No FileStream buffer: writes arrive in large chunks already, and a second copy costs memory per upload.
        var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0, FileOptions.Asynchronous);
        return Task.FromResult<IBlobUpload>(new Upload(this, path, file));
    }

    public Task<Stream> OpenReadAsync(string sha256, long offset, long length, CancellationToken cancellationToken)
    {
        var file = new FileStream(PathOf(sha256), FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.Asynchronous);
        file.Seek(offset, SeekOrigin.Begin);
        return Task.FromResult<Stream>(file);
    }

    public Task DeleteAsync(string sha256, CancellationToken cancellationToken)
    {
        File.Delete(PathOf(sha256));
        return Task.CompletedTask;
    }

    public Task<int> DeleteAbandonedUploadsAsync(DateTime olderThan, CancellationToken cancellationToken)
    {
        var deleted = 0;
        foreach (var file in new DirectoryInfo(uploads).EnumerateFiles())
        {
            if (file.LastWriteTimeUtc >= olderThan)
                continue;
            file.Delete();
            deleted++;
        }
        return Task.FromResult(deleted);
    }

    private string PathOf(string sha256)
    {
        BlobStorageSetup.CheckedAddress(sha256);
        return Path.Combine(blobs, sha256[..2], sha256[2..4], sha256);
    }

    private sealed class Upload(FileSystemBlobStorage storage, string path, FileStream file) : IBlobUpload
    {
        private bool committed;

        public Task WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) => file.WriteAsync(data, cancellationToken).AsTask();

        public async Task CommitAsync(string sha256, CancellationToken cancellationToken)
        {
            file.Flush(flushToDisk: true);
            await file.DisposeAsync();
            var target = storage.PathOf(sha256);
            var folder = Path.GetDirectoryName(target)!;
            Directory.CreateDirectory(folder);
            if (File.Exists(target))
                File.Delete(path);
            else
            {
                // Overwriting is harmless (same address, same bytes) and keeps a concurrent twin upload from failing.
                File.Move(path, target, overwrite: true);
                SyncFolder(folder);
            }
            committed = true;
        }

        public async ValueTask DisposeAsync()
        {
            await file.DisposeAsync();
            if (!committed)
                File.Delete(path);
        }
    }

    /// <summary>Makes a rename in <paramref name="folder"/> durable: the new entry is written with the folder, not the file.</summary>
    private static void SyncFolder(string folder)
    {
        if (!OperatingSystem.IsLinux())
            return;
        var descriptor = Open(System.Text.Encoding.UTF8.GetBytes(folder + "\0"), 0 /* O_RDONLY */);
        if (descriptor < 0)
            throw new IOException($"could not open {folder} to sync it (errno {Marshal.GetLastPInvokeError()})");
        var synced = Fsync(descriptor);
        var closed = Close(descriptor);
        if (synced < 0 || closed < 0)
            throw new IOException($"could not sync {folder} (errno {Marshal.GetLastPInvokeError()})");
    }

    // Plain DllImport with blittable arguments (a NUL-terminated UTF-8 path): no marshalling code, no unsafe blocks.
    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Open(byte[] path, int flags);

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Fsync(int descriptor);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Close(int descriptor);
}
