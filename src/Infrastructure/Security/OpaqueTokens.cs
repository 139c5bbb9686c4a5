using System.Security.Cryptography;

namespace TaskRunner.Infrastructure.Security;

/// <summary>
/// Random secrets handed out once (refresh tokens, API key secrets) and stored only as SHA-256. They carry 256 bits of
/// entropy, so a fast hash is enough: there is nothing to guess that a slow hash would protect.
/// </summary>
public static class OpaqueTokens
{
    private const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    /// <summary>A URL-safe token of 32 random bytes.</summary>
    public static string New() => Base64UrlEncode(RandomNumberGenerator.GetBytes(32));

    /// <summary>Random alphanumeric characters (for the public lookup part of an API key).</summary>
    public static string Alphanumeric(int length) => RandomNumberGenerator.GetString(Alphabet, length);

    public static byte[] Hash(string token) => SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(token));

    /// <summary>
    /// The hash as hex, for SQL parameters (<c>decode(@hash, 'hex')</c>): Dapper.AOT 1.1.0 expands a byte[] parameter
    /// like a list (DapperLib/DapperAOT#226), which also drags reflection-based Dapper into the AOT binary.
    /// </summary>
    public static string HashHex(string token) => Convert.ToHexStringLower(Hash(token));

    public static bool HashEquals(string token, byte[] expectedHash) =>
        CryptographicOperations.FixedTimeEquals(Hash(token), expectedHash);

    private static string Base64UrlEncode(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
