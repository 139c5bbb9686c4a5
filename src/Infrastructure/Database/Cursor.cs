using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using TaskRunner.Infrastructure.Configuration;

namespace TaskRunner.Infrastructure.Database;

/// <summary>The type of one sort value a cursor carries.</summary>
public enum CursorValueKind : byte
{
    Null = 0,
    Timestamp = 1,
    Id = 2,
    Number = 3,
    Text = 4,
}

/// <summary>One sort value of the last row of a page: a UTC timestamp, a UUID, a 64-bit number, a text, or null.</summary>
public readonly record struct CursorValue
{
    private readonly long number;
    private readonly Guid id;
    private readonly string? text;

    private CursorValue(CursorValueKind kind, long number = 0, Guid id = default, string? text = null)
    {
        Kind = kind;
        this.number = number;
        this.id = id;
        this.text = text;
    }

    public CursorValueKind Kind { get; }

    public static CursorValue Null => new(CursorValueKind.Null);

    public static CursorValue Of(DateTime timestamp) =>
        new(CursorValueKind.Timestamp, number: DateTime.SpecifyKind(timestamp, DateTimeKind.Utc).Ticks);

    public static CursorValue Of(Guid value) => new(CursorValueKind.Id, id: value);

    public static CursorValue Of(long value) => new(CursorValueKind.Number, number: value);

    public static CursorValue Of(string value) => new(CursorValueKind.Text, text: value);

    public DateTime AsTimestamp() => Kind == CursorValueKind.Timestamp ? new DateTime(number, DateTimeKind.Utc) : throw WrongKind();

    public Guid AsId() => Kind == CursorValueKind.Id ? id : throw WrongKind();

    public long AsNumber() => Kind == CursorValueKind.Number ? number : throw WrongKind();

    public string AsText() => Kind == CursorValueKind.Text ? text! : throw WrongKind();

    private InvalidOperationException WrongKind() => new($"the cursor value is a {Kind}");
}

/// <summary>
/// What a cursor is valid for: the list, its sort and every filter, in a fixed order. A cursor only continues the exact
/// query it came from; changing a filter between pages would otherwise silently skip or repeat rows. The page size is
/// deliberately not part of it.
/// </summary>
public sealed class CursorBinding(string list)
{
    private readonly List<(string Name, string? Value)> parts = [("list", list)];

    /// <summary>Adds a part (the sort, a filter's normalised value, or null when the filter is absent).</summary>
    public CursorBinding With(string name, string? value)
    {
        parts.Add((name, value));
        return this;
    }

    /// <summary>A SHA-256 over the parts, each length-prefixed so no two different bindings can collide by concatenation.</summary>
    internal byte[] Fingerprint()
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> length = stackalloc byte[4];
        foreach (var (name, value) in parts)
        {
            foreach (var text in (ReadOnlySpan<string?>)[name, value])
            {
                var bytes = text is null ? [] : Encoding.UTF8.GetBytes(text);
                BinaryPrimitives.WriteInt32BigEndian(length, text is null ? -1 : bytes.Length);
                hash.AppendData(length);
                hash.AppendData(bytes);
            }
        }
        return hash.GetHashAndReset()[..CursorCodec.FingerprintBytes];
    }
}

/// <summary>
/// Opaque, tamper-evident keyset cursors. A cursor is base64url of
/// <c>version | fingerprint of the binding (16 bytes) | typed sort values | HMAC-SHA256 of all before it (32 bytes)</c>.
/// The signature makes a forged or altered cursor fail before its contents are trusted (no client can make the server
/// seek to positions it chooses); the fingerprint tells a cursor from another query apart from a forged one, so the client
/// gets the right advice.
/// </summary>
public sealed class CursorCodec
{
    internal const int FingerprintBytes = 16;
    private const byte Version = 1;
    private const int MacBytes = HMACSHA256.HashSizeInBytes;
    private const int MaxTextBytes = 1024;

    /// <summary>Longer input is rejected before decoding; real cursors are a few hundred characters at most.</summary>
    private const int MaxCursorLength = 4096;

    public const string Invalid = "is not a valid cursor: it was altered or not issued by this service. Start again without cursor.";

    public const string OtherQuery =
        "was issued for another sort or other filters. Repeat the request with the filters of the first page, or start again without cursor.";

    private readonly byte[] key;

    public CursorCodec(IOptions<CursorOptions> options)
    {
        key = options.Value.KeyBytes() ?? throw new InvalidOperationException($"{CursorOptions.Section}:SigningKey is not valid");
    }

    public string Encode(CursorBinding binding, params ReadOnlySpan<CursorValue> values)
    {
        using var buffer = new MemoryStream();
        buffer.WriteByte(Version);
        buffer.Write(binding.Fingerprint());
        Span<byte> scratch = stackalloc byte[16];
        foreach (var value in values)
        {
            buffer.WriteByte((byte)value.Kind);
            switch (value.Kind)
            {
                case CursorValueKind.Timestamp:
                    BinaryPrimitives.WriteInt64BigEndian(scratch, value.AsTimestamp().Ticks);
                    buffer.Write(scratch[..8]);
                    break;
                case CursorValueKind.Number:
                    BinaryPrimitives.WriteInt64BigEndian(scratch, value.AsNumber());
                    buffer.Write(scratch[..8]);
                    break;
                case CursorValueKind.Id:
                    value.AsId().TryWriteBytes(scratch, bigEndian: true, out _);
                    buffer.Write(scratch);
                    break;
                case CursorValueKind.Text:
                    var text = Encoding.UTF8.GetBytes(value.AsText());
                    if (text.Length > MaxTextBytes)
                        throw new ArgumentException($"a cursor text value may hold at most {MaxTextBytes} bytes", nameof(values));
                    BinaryPrimitives.WriteUInt16BigEndian(scratch, (ushort)text.Length);
                    buffer.Write(scratch[..2]);
                    buffer.Write(text);
                    break;
            }
        }
        buffer.Write(HMACSHA256.HashData(key, buffer.GetBuffer().AsSpan(0, (int)buffer.Length)));
        return Base64Url.EncodeToString(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
    }

    /// <summary>
    /// The sort values of a cursor issued for <paramref name="binding"/>, checked against the expected kinds in
    /// <paramref name="shape"/> (a <see cref="CursorValueKind.Null"/> is accepted in any position).
    /// On failure, <paramref name="error"/> says why, worded to follow the parameter's name (<c>cursor ...</c>).
    /// </summary>
    public bool TryDecode(
        string cursor, CursorBinding binding, ReadOnlySpan<CursorValueKind> shape, out CursorValue[] values, out string error)
    {
        values = [];
        error = Invalid;
        if (cursor.Length is 0 or > MaxCursorLength)
            return false;
        var bytes = new byte[Base64Url.GetMaxDecodedLength(cursor.Length)];
        if (Base64Url.DecodeFromChars(cursor, bytes, out var consumed, out var written) != System.Buffers.OperationStatus.Done
            || consumed != cursor.Length
            || written < 1 + FingerprintBytes + MacBytes)
            return false;
        var content = bytes.AsSpan(0, written - MacBytes);
        var mac = bytes.AsSpan(written - MacBytes, MacBytes);
        if (!CryptographicOperations.FixedTimeEquals(HMACSHA256.HashData(key, content), mac) || content[0] != Version)
            return false;
        if (!content.Slice(1, FingerprintBytes).SequenceEqual(binding.Fingerprint()))
        {
            error = OtherQuery;
            return false;
        }

        // Signed by us, so well-formed unless the code that issued it differs; read defensively all the same.
        var reader = content[(1 + FingerprintBytes)..];
        var decoded = new CursorValue[shape.Length];
        for (var i = 0; i < shape.Length; i++)
        {
            if (reader.IsEmpty)
                return false;
            var kind = (CursorValueKind)reader[0];
            reader = reader[1..];
            if (kind != shape[i] && kind != CursorValueKind.Null)
                return false;
            switch (kind)
            {
                case CursorValueKind.Null:
                    decoded[i] = CursorValue.Null;
                    break;
                case CursorValueKind.Timestamp when reader.Length >= 8:
                    var ticks = BinaryPrimitives.ReadInt64BigEndian(reader);
                    if (ticks < 0 || ticks > DateTime.MaxValue.Ticks)
                        return false;
                    decoded[i] = CursorValue.Of(new DateTime(ticks, DateTimeKind.Utc));
                    reader = reader[8..];
                    break;
                case CursorValueKind.Number when reader.Length >= 8:
                    decoded[i] = CursorValue.Of(BinaryPrimitives.ReadInt64BigEndian(reader));
                    reader = reader[8..];
                    break;
                case CursorValueKind.Id when reader.Length >= 16:
                    decoded[i] = CursorValue.Of(new Guid(reader[..16], bigEndian: true));
                    reader = reader[16..];
                    break;
                case CursorValueKind.Text when reader.Length >= 2:
                    var length = BinaryPrimitives.ReadUInt16BigEndian(reader);
                    if (reader.Length < 2 + length)
                        return false;
                    decoded[i] = CursorValue.Of(Encoding.UTF8.GetString(reader.Slice(2, length)));
                    reader = reader[(2 + length)..];
                    break;
                default:
                    return false;
            }
        }
        if (!reader.IsEmpty)
            return false;
        values = decoded;
        error = "";
        return true;
    }
}
