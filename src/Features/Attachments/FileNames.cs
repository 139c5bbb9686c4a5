using System.Globalization;
using System.Text;

namespace TaskRunner.Features.Attachments;

/// <summary>
/// File names as stored and served: the last path segment only (no <c>../</c>, no folders from either kind of slash), no
/// control characters (NUL included), no leading or trailing dots and spaces, at most
/// <see cref="MaxLength"/> characters with the extension kept. Nothing left: <c>file</c>.
/// </summary>
public static class FileNames
{
    public const int MaxLength = 255;
    private const int MaxExtensionLength = 16;
    private const string Fallback = "file";

    public static string Normalize(string? name)
    {
        if (string.IsNullOrEmpty(name))
            return Fallback;
        var lastSeparator = name.LastIndexOfAny(['/', '\\']);
        var segment = lastSeparator >= 0 ? name[(lastSeparator + 1)..] : name;
        var cleaned = new StringBuilder(segment.Length);
        foreach (var rune in segment.EnumerateRunes())
        {
            var category = Rune.GetUnicodeCategory(rune);
            if (category is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse
                or UnicodeCategory.OtherNotAssigned or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator)
                continue;
            cleaned.Append(rune.ToString());
        }
        var normalized = cleaned.ToString().Trim().Trim('.').Trim();
        if (normalized.Length == 0)
            return Fallback;
        return normalized.Length <= MaxLength ? normalized : Shorten(normalized);
    }

    private static string Shorten(string name)
    {
        var dot = name.LastIndexOf('.');
        var extension = dot > 0 && name.Length - dot <= MaxExtensionLength ? name[dot..] : "";
        var stem = name[..(name.Length - extension.Length)];
        var keep = MaxLength - extension.Length;
        // Never end on half a surrogate pair.
        if (char.IsHighSurrogate(stem[keep - 1]))
            keep--;
        return stem[..keep].TrimEnd() + extension;
    }
}
