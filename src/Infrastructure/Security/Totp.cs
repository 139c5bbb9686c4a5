using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace TaskRunner.Infrastructure.Security;

/// <summary>
/// Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): HMAC-SHA1, 6 digits, 30-second steps, the form every
/// authenticator app reads from an <c>otpauth://</c> URI. A code is accepted for the current step and one either side (a
/// phone's clock may be a little off), and only for a step later than the last one accepted, so a code works once.
/// </summary>
public static class Totp
{
    public const int Digits = 6;
    public const int StepSeconds = 30;
    private const int SecretBytes = 20;
    private const string Base32Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

    /// <summary>A new shared secret: 160 random bits (RFC 4226's recommendation) in base32, 32 characters.</summary>
    public static string NewSecret() => Base32Encode(RandomNumberGenerator.GetBytes(SecretBytes));

    public static long StepAt(DateTimeOffset time) => time.ToUnixTimeSeconds() / StepSeconds;

    /// <summary>The code of one time step (RFC 4226 section 5.3's dynamic truncation).</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5350",
        Justification = "RFC 6238 as authenticator apps implement it is HMAC-SHA1; SHA-1's collisions do not weaken HMAC.")]
    public static string Code(byte[] key, long step)
    {
        Span<byte> counter = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(counter, step);
        Span<byte> hash = stackalloc byte[HMACSHA1.HashSizeInBytes];
        HMACSHA1.HashData(key, counter, hash);
        var offset = hash[^1] & 0x0f;
        var binary = BinaryPrimitives.ReadInt32BigEndian(hash.Slice(offset, 4)) & 0x7fffffff;
        return (binary % 1_000_000).ToString("D6", CultureInfo.InvariantCulture);
    }

    /// <summary>The step the code belongs to, when it is right for now (± one step) and later than <paramref name="lastAcceptedStep"/>.</summary>
    public static long? Match(string secret, string? code, DateTimeOffset now, long? lastAcceptedStep)
    {
        if (code is not { Length: Digits } || !code.All(char.IsAsciiDigit))
            return null;
        var key = Base32Decode(secret);
        var current = StepAt(now);
        var presented = Encoding.ASCII.GetBytes(code);
        for (var step = current - 1; step <= current + 1; step++)
        {
            if (step > (lastAcceptedStep ?? long.MinValue)
                && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Code(key, step)), presented))
                return step;
        }
        return null;
    }

    /// <summary>What an authenticator app scans (the de-facto Key Uri Format); the parameters are the defaults, spelled out.</summary>
    public static string ProvisioningUri(string issuer, string account, string secret) =>
        $"otpauth://totp/{Uri.EscapeDataString(issuer)}:{Uri.EscapeDataString(account)}?secret={secret}&issuer={Uri.EscapeDataString(issuer)}"
        + $"&algorithm=SHA1&digits={Digits}&period={StepSeconds}";

    public static string Base32Encode(byte[] bytes)
    {
        var text = new StringBuilder((bytes.Length * 8 + 4) / 5);
        int buffer = 0, bits = 0;
        foreach (var value in bytes)
        {
            buffer = (buffer << 8) | value;
            bits += 8;
            while (bits >= 5)
            {
                text.Append(Base32Alphabet[(buffer >> (bits - 5)) & 31]);
                bits -= 5;
            }
        }
        if (bits > 0)
            text.Append(Base32Alphabet[(buffer << (5 - bits)) & 31]);
        return text.ToString();
    }

    public static byte[] Base32Decode(string text)
    {
        var bytes = new List<byte>(text.Length * 5 / 8);
        int buffer = 0, bits = 0;
        foreach (var character in text.TrimEnd('='))
        {
            var value = Base32Alphabet.IndexOf(char.ToUpperInvariant(character), StringComparison.Ordinal);
            if (value < 0)
                throw new FormatException("not base32");
            buffer = (buffer << 5) | value;
            bits += 5;
            if (bits >= 8)
            {
                bytes.Add((byte)(buffer >> (bits - 8)));
                bits -= 8;
            }
        }
        return [.. bytes];
    }
}
