using System.Buffers;
using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using TaskRunner.Infrastructure.Configuration;

namespace TaskRunner.Infrastructure.Storage;

/// <summary>
/// Blobs as objects <c>blobs/&lt;sha256&gt;</c> of one bucket in any S3-compatible store. An upload that fits in one part
/// (<see cref="AttachmentsOptions.S3PartSizeBytes"/>) is held in memory and put straight at its address; a larger one goes up
/// part by part as a multipart upload to <c>uploads/&lt;random&gt;</c> (its address is not known before the last byte),
/// then is copied to its address inside the store. An unfinished upload is aborted, so nothing is left behind. Bodies are
/// signed whole, not in aws-chunked encoding, which S3-compatible stores such as s3rver would store verbatim.
/// </summary>
public sealed class S3BlobStorage : IBlobStorage, IDisposable
{
    private const string BlobPrefix = "blobs/";
    private const string UploadPrefix = "uploads/";
    private const string CopySourceHeader = "x-amz-copy-source";

    private readonly AmazonS3Client client;
    private readonly string bucket;
    private readonly int partSize;

    public S3BlobStorage(AttachmentsOptions options)
    {
        bucket = options.S3Bucket;
        partSize = options.S3PartSizeBytes;
        var config = new AmazonS3Config
        {
            ForcePathStyle = options.S3ForcePathStyle,
            AuthenticationRegion = options.S3Region,
        };
        if (options.S3ServiceUrl.Length > 0)
            config.ServiceURL = options.S3ServiceUrl;
        else
            config.RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(options.S3Region);
        if (options.S3ChecksumsWhenRequiredOnly)
        {
            config.RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED;
            config.ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED;
        }
        client = options.S3AccessKey.Length > 0
            ? new AmazonS3Client(new BasicAWSCredentials(options.S3AccessKey, options.S3SecretKey), config)
            : new AmazonS3Client(config);
        client.BeforeRequestEvent += SendCopySourceWithSlashes;
    }

    /// <summary>
    /// The SDK percent-encodes the whole <c>x-amz-copy-source</c>, its slashes too (<c>bucket%2Fuploads%2F…</c>); AWS decodes
    /// that, but s3rver 3.7.1 (decodeURI) and other S3-compatible stores then look for a bucket of that name. Our keys are
    /// hex and slashes only, so the source goes unencoded, as boto3 and the AWS CLI send it. Runs after marshalling and
    /// before signing, so the header is signed as sent.
    /// </summary>
    private static void SendCopySourceWithSlashes(object sender, RequestEventArgs e)
    {
        if (e is WebServiceRequestEventArgs { Request: CopyObjectRequest copy } request)
            request.Headers[CopySourceHeader] = $"{copy.SourceBucket}/{copy.SourceKey}";
    }

    public Task<IBlobUpload> StartUploadAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IBlobUpload>(new Upload(this));

    public async Task<Stream> OpenReadAsync(string sha256, long offset, long length, CancellationToken cancellationToken)
    {
        var request = new GetObjectRequest { BucketName = bucket, Key = KeyOf(sha256) };
        if (length == 0)
            return Stream.Null;
        request.ByteRange = new ByteRange(offset, offset + length - 1);
        var response = await client.GetObjectAsync(request, cancellationToken);
        return response.ResponseStream;
    }

    public async Task DeleteAsync(string sha256, CancellationToken cancellationToken) =>
        await client.DeleteObjectAsync(new DeleteObjectRequest { BucketName = bucket, Key = KeyOf(sha256) }, cancellationToken);

    public async Task<int> DeleteAbandonedUploadsAsync(DateTime olderThan, CancellationToken cancellationToken)
    {
        var deleted = 0;
        var uploads = await client.ListMultipartUploadsAsync(
            new ListMultipartUploadsRequest { BucketName = bucket, Prefix = UploadPrefix }, cancellationToken);
        foreach (var upload in uploads.MultipartUploads ?? [])
        {
            if (upload.Initiated is { } initiated && initiated.ToUniversalTime() >= olderThan)
                continue;
            await client.AbortMultipartUploadAsync(
                new AbortMultipartUploadRequest { BucketName = bucket, Key = upload.Key, UploadId = upload.UploadId }, cancellationToken);
            deleted++;
        }
        var objects = await client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, Prefix = UploadPrefix }, cancellationToken);
        foreach (var stored in objects.S3Objects ?? [])
        {
            if (stored.LastModified is { } modified && modified.ToUniversalTime() >= olderThan)
                continue;
            await client.DeleteObjectAsync(new DeleteObjectRequest { BucketName = bucket, Key = stored.Key }, cancellationToken);
            deleted++;
        }
        return deleted;
    }

    public void Dispose() => client.Dispose();

    private static string KeyOf(string sha256) => BlobPrefix + BlobStorageSetup.CheckedAddress(sha256);

    private async Task<bool> ExistsAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            await client.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = bucket, Key = key }, cancellationToken);
            return true;
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }
    }

    private sealed class Upload(S3BlobStorage storage) : IBlobUpload
    {
        private readonly string temporaryKey = UploadPrefix + Guid.NewGuid().ToString("N");
        private readonly List<PartETag> parts = [];
        private byte[] buffer = ArrayPool<byte>.Shared.Rent(storage.partSize);
        private int buffered;
        private string? uploadId;
        private bool committed;

        public async Task WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        {
            while (data.Length > 0)
            {
                var take = Math.Min(data.Length, storage.partSize - buffered);
                data.Span[..take].CopyTo(buffer.AsSpan(buffered));
                buffered += take;
                data = data[take..];
                if (buffered == storage.partSize)
                    await SendPartAsync(cancellationToken);
            }
        }

        public async Task CommitAsync(string sha256, CancellationToken cancellationToken)
        {
            var key = KeyOf(sha256);
            if (uploadId is null)
            {
                using var content = new MemoryStream(buffer, 0, buffered, writable: false);
                await storage.client.PutObjectAsync(new PutObjectRequest
                {
                    BucketName = storage.bucket, Key = key, InputStream = content, AutoCloseStream = false, UseChunkEncoding = false,
                }, cancellationToken);
                committed = true;
                return;
            }
            if (buffered > 0)
                await SendPartAsync(cancellationToken);
            await storage.client.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest
            {
                BucketName = storage.bucket, Key = temporaryKey, UploadId = uploadId, PartETags = parts,
            }, cancellationToken);
            committed = true;
            try
            {
                if (!await storage.ExistsAsync(key, cancellationToken))
                    await storage.client.CopyObjectAsync(new CopyObjectRequest
                    {
                        SourceBucket = storage.bucket, SourceKey = temporaryKey, DestinationBucket = storage.bucket, DestinationKey = key,
                    }, cancellationToken);
            }
            finally
            {
                await storage.client.DeleteObjectAsync(new DeleteObjectRequest { BucketName = storage.bucket, Key = temporaryKey },
                    CancellationToken.None);
            }
        }

        private async Task SendPartAsync(CancellationToken cancellationToken)
        {
            uploadId ??= (await storage.client.InitiateMultipartUploadAsync(
                new InitiateMultipartUploadRequest { BucketName = storage.bucket, Key = temporaryKey }, cancellationToken)).UploadId;
            var partNumber = parts.Count + 1;
            using var content = new MemoryStream(buffer, 0, buffered, writable: false);
            var response = await storage.client.UploadPartAsync(new UploadPartRequest
            {
                BucketName = storage.bucket, Key = temporaryKey, UploadId = uploadId, PartNumber = partNumber, InputStream = content,
                PartSize = buffered, UseChunkEncoding = false,
            }, cancellationToken);
            parts.Add(new PartETag(partNumber, response.ETag));
            buffered = 0;
        }

        public async ValueTask DisposeAsync()
        {
            if (buffer.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(buffer);
                buffer = [];
            }
            if (!committed && uploadId is not null)
                await storage.client.AbortMultipartUploadAsync(
                    new AbortMultipartUploadRequest { BucketName = storage.bucket, Key = temporaryKey, UploadId = uploadId },
                    CancellationToken.None);
        }
    }
}
