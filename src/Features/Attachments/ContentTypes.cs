using System.Text;

namespace TaskRunner.Features.Attachments;

/// <summary>
/// What a file is, decided from its first bytes (magic numbers), never from its name or the type a client declares; and
/// how each type may be served.
/// </summary>
public static class ContentTypes
{
    /// <summary>How many leading bytes <see cref="Detect"/> looks at.</summary>
    public const int SniffLength = 1024;

    public const string Png = "image/png";
    public const string Jpeg = "image/jpeg";
    public const string Gif = "image/gif";
    public const string WebP = "image/webp";
    public const string Pdf = "application/pdf";
    public const string Zip = "application/zip";
    public const string Gzip = "application/gzip";
    public const string Executable = "application/x-executable";
    public const string WindowsExecutable = "application/vnd.microsoft.portable-executable";
    public const string Html = "text/html";
    public const string Svg = "image/svg+xml";
    public const string Xml = "application/xml";
    public const string JavaScript = "text/javascript";
    public const string Text = "text/plain";
    public const string Binary = "application/octet-stream";

    /// <summary>Text types a client may declare for bytes detected as plain text; the declared one is kept, being more precise.</summary>
    private static readonly HashSet<string> PlainTextRefinements = ["text/csv", "text/markdown", "application/json"];

    /// <summary>Types a browser would run as a document or script: served only as downloads, whatever the allow-list says.</summary>
    private static readonly HashSet<string> Active = [Html, Svg, Xml, JavaScript, "application/javascript", "text/xml", "application/xhtml+xml"];

    /// <summary>Types shown inline (images, plain text); everything else is a download.</summary>
    private static readonly HashSet<string> Inline = [Png, Jpeg, Gif, WebP, Text];

    private static ReadOnlySpan<byte> PngMagic => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];
    private static ReadOnlySpan<byte> JpegMagic => [0xFF, 0xD8, 0xFF];
    private static ReadOnlySpan<byte> GzipMagic => [0x1F, 0x8B];
    private static ReadOnlySpan<byte> ElfMagic => [0x7F, 0x45, 0x4C, 0x46];
    private static ReadOnlySpan<byte> MachO64Magic => [0xCF, 0xFA, 0xED, 0xFE];
    private static ReadOnlySpan<byte> MachO32Magic => [0xCE, 0xFA, 0xED, 0xFE];

    /// <summary>Images the thumbnailer reads.</summary>
    public static bool IsImage(string contentType) => contentType is Png or Jpeg or Gif or WebP;

    public static bool ServedInline(string contentType) => Inline.Contains(contentType) && !Active.Contains(contentType);

    /// <summary>The type of a file that starts with <paramref name="head"/> (up to <see cref="SniffLength"/> bytes, all of a shorter file).</summary>
    public static string Detect(ReadOnlySpan<byte> head, bool wholeFile)
    {
        if (head.StartsWith(PngMagic))
            return Png;
        if (head.StartsWith(JpegMagic))
            return Jpeg;
        if (head.StartsWith("GIF87a"u8) || head.StartsWith("GIF89a"u8))
            return Gif;
        if (head.Length >= 12 && head.StartsWith("RIFF"u8) && head[8..12].SequenceEqual("WEBP"u8))
            return WebP;
        if (head.StartsWith("%PDF-"u8))
            return Pdf;
        if (head.StartsWith("PK\x03\x04"u8) || head.StartsWith("PK\x05\x06"u8))
            return Zip;
        if (head.StartsWith(GzipMagic))
            return Gzip;
        if (head.StartsWith(ElfMagic) || head.StartsWith(MachO64Magic) || head.StartsWith(MachO32Magic))
            return Executable;
        if (head.StartsWith("MZ"u8))
            return WindowsExecutable;
        if (!LooksLikeText(head, wholeFile))
            return Binary;
        return MarkupOf(head) ?? Text;
    }

    /// <summary>
    /// The type to store for a file detected as <paramref name="detected"/> and declared as <paramref name="declared"/>, or
    /// null when they disagree. A missing or generic declaration (<c>application/octet-stream</c>) takes the detected type.
    /// </summary>
    public static string? Reconcile(string detected, string? declared)
    {
        var declaredType = declared?.Split(';', 2)[0].Trim().ToLowerInvariant();
        if (string.IsNullOrEmpty(declaredType) || declaredType == Binary || declaredType == detected)
            return detected;
        if (detected == Text && PlainTextRefinements.Contains(declaredType))
            return declaredType;
        return null;
    }

    /// <summary>Markup a browser would render or run: HTML, SVG, XML, or a script, after an optional BOM and whitespace.</summary>
    private static string? MarkupOf(ReadOnlySpan<byte> head)
    {
        var text = Encoding.UTF8.GetString(head).TrimStart('\uFEFF').TrimStart().ToLowerInvariant();
        if (text.StartsWith("<svg", StringComparison.Ordinal) || (text.StartsWith('<') && text.Contains("<svg", StringComparison.Ordinal)))
            return Svg;
        string[] htmlStarts = ["<!doctype html", "<html", "<head", "<body", "<script", "<iframe", "<meta", "<title", "<style", "<div", "<a ", "<img", "<p>", "<!--"];
        if (htmlStarts.Any(start => text.StartsWith(start, StringComparison.Ordinal)) || text.Contains("<script", StringComparison.Ordinal))
            return Html;
        if (text.StartsWith("<?xml", StringComparison.Ordinal))
            return Xml;
        return null;
    }

    /// <summary>UTF-8 without NULs or control characters other than whitespace; a cut at the sniff limit may split a character.</summary>
    private static bool LooksLikeText(ReadOnlySpan<byte> head, bool wholeFile)
    {
        foreach (var b in head)
        {
            if (b < 0x20 && b is not ((byte)'\t' or (byte)'\n' or (byte)'\r' or 0x0C))
                return false;
        }
        var checkedBytes = head;
        if (!wholeFile)
        {
            // Drop a character the cut may have split: back up over continuation bytes to the last lead byte.
            var end = head.Length;
            var back = 0;
            while (back < 3 && end - back - 1 >= 0 && (head[end - back - 1] & 0xC0) == 0x80)
                back++;
            if (end - back - 1 >= 0 && head[end - back - 1] >= 0xC0)
                checkedBytes = head[..(end - back - 1)];
        }
        return System.Text.Unicode.Utf8.IsValid(checkedBytes);
    }
}
