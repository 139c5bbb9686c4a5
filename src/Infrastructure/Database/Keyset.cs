using System.Text;
using TaskRunner.Infrastructure.Http;

namespace TaskRunner.Infrastructure.Database;

/// <summary>
/// The sortable keys of one list, declared once (a static field beside its handler): each public name maps to a constant
/// SQL expression, the kind of its value and how to read that value from a row for the next cursor. Only these
/// expressions ever reach the SQL text, so <c>sort</c> cannot name anything else. The row's id is always the last key,
/// so the order is total and a cursor position is unique.
/// </summary>
/// <remarks>
/// Nullable keys sort <c>NULLS LAST</c> in both directions; an index meant to serve such a sort must say so too.
/// A text key's expression must be of type <c>text</c> (cast others, e.g. <c>email::text</c>), so the cursor's text
/// parameter compares with the same operator and collation the ORDER BY uses.
/// </remarks>
public sealed class SortKeys<TRow>
{
    private const string IdName = "id";

    private readonly Dictionary<string, SortKey<TRow>> keys = new(StringComparer.Ordinal);
    private readonly SortKey<TRow> id;
    private string defaultSort = IdName;
    private bool fixedSort;

    /// <param name="idExpression">The SQL expression of the row's unique id (e.g. <c>t.id</c>): the final tie-breaker, also sortable as <c>id</c>.</param>
    /// <param name="readId">The id of a row.</param>
    public SortKeys(string idExpression, Func<TRow, Guid> readId)
    {
        id = new SortKey<TRow>(IdName, idExpression, CursorValueKind.Id, Nullable: false, row => CursorValue.Of(readId(row)));
        keys.Add(IdName, id);
    }

    public SortKeys<TRow> Timestamp(string name, string expression, Func<TRow, DateTime> read) =>
        Add(name, expression, CursorValueKind.Timestamp, nullable: false, row => CursorValue.Of(read(row)));

    public SortKeys<TRow> NullableTimestamp(string name, string expression, Func<TRow, DateTime?> read) =>
        Add(name, expression, CursorValueKind.Timestamp, nullable: true,
            row => read(row) is { } value ? CursorValue.Of(value) : CursorValue.Null);

    public SortKeys<TRow> Number(string name, string expression, Func<TRow, long> read) =>
        Add(name, expression, CursorValueKind.Number, nullable: false, row => CursorValue.Of(read(row)));

    public SortKeys<TRow> NullableNumber(string name, string expression, Func<TRow, long?> read) =>
        Add(name, expression, CursorValueKind.Number, nullable: true,
            row => read(row) is { } value ? CursorValue.Of(value) : CursorValue.Null);

    public SortKeys<TRow> Text(string name, string expression, Func<TRow, string> read) =>
        Add(name, expression, CursorValueKind.Text, nullable: false, row => CursorValue.Of(read(row)));

    public SortKeys<TRow> NullableText(string name, string expression, Func<TRow, string?> read) =>
        Add(name, expression, CursorValueKind.Text, nullable: true,
            row => read(row) is { } value ? CursorValue.Of(value) : CursorValue.Null);

    /// <summary>The order used when the request has no <c>sort</c> (e.g. <c>-created_at</c>); <c>id</c> unless set.</summary>
    public SortKeys<TRow> DefaultSort(string sort)
    {
        defaultSort = Validated(sort);
        return this;
    }

    /// <summary>The list has this one order: <c>sort</c> may be absent or exactly this, anything else is a 400.</summary>
    public SortKeys<TRow> FixedSort(string sort)
    {
        DefaultSort(sort);
        fixedSort = true;
        return this;
    }

    /// <summary>
    /// The sort a <c>sort</c> parameter asks for (its default when absent): comma-separated key names, each with an optional
    /// <c>-</c> for descending. Unknown, duplicate or empty keys add errors named <c>sort</c> and return null.
    /// </summary>
    public KeysetSort<TRow>? Parse(string? sort, ValidationErrors errors)
    {
        if (sort is null)
            return ParseTerms(defaultSort, errors);
        if (!fixedSort)
            return ParseTerms(sort, errors);
        var requested = ParseTerms(sort, new ValidationErrors());
        if (requested is not null && requested.Normalized == ParseTerms(defaultSort, errors)!.Normalized)
            return requested;
        errors.Add("sort", $"this list has one order: {defaultSort}");
        return null;
    }

    private KeysetSort<TRow>? ParseTerms(string sort, ValidationErrors errors)
    {
        var terms = new List<SortTerm<TRow>>();
        var valid = true;
        foreach (var part in sort.Split(','))
        {
            var descending = part.StartsWith('-');
            var name = descending ? part[1..] : part;
            if (!keys.TryGetValue(name, out var key))
            {
                errors.Add("sort", name.Length == 0
                    ? "has an empty key; write keys separated by commas, each with an optional - for descending"
                    : $"cannot sort by '{Truncated(name)}'; sortable: {string.Join(", ", keys.Keys)}");
                valid = false;
            }
            else if (terms.Exists(term => term.Key == key))
            {
                errors.Add("sort", $"names '{name}' twice");
                valid = false;
            }
            else if (terms.Count > 0 && terms[^1].Key == id)
            {
                errors.Add("sort", "puts a key after id: ids are unique, so id can only be the last key");
                valid = false;
            }
            else
            {
                terms.Add(new SortTerm<TRow>(key, descending));
            }
        }
        if (!valid)
            return null;
        // The id breaks ties in the direction of the last key, so an all-descending sort reads one index backwards.
        if (terms[^1].Key != id)
            terms.Add(new SortTerm<TRow>(id, terms[^1].Descending));
        return new KeysetSort<TRow>(terms);
    }

    private SortKeys<TRow> Add(string name, string expression, CursorValueKind kind, bool nullable, Func<TRow, CursorValue> read)
    {
        keys.Add(name, new SortKey<TRow>(name, expression, kind, nullable, read));
        return this;
    }

    private string Validated(string sort)
    {
        return ParseTerms(sort, new ValidationErrors()) is not null
            ? sort
            : throw new ArgumentException($"'{sort}' is not a sort of this list's keys ({string.Join(", ", keys.Keys)})", nameof(sort));
    }

    private static string Truncated(string text) => text.Length <= 40 ? text : text[..40] + "…";
}

/// <summary>
/// One page of a keyset-paged list: its sort, the position of the row it continues after (null on the first page) and how
/// many rows it holds. <see cref="FilteredQuery.Complete{TRow}(string, KeysetPage{TRow})"/> turns it into SQL.
/// </summary>
public sealed record KeysetPage<TRow>(KeysetSort<TRow> Sort, CursorValue[]? After, int Limit);

/// <summary>One sortable key: its public name, constant SQL expression, value kind and how a row's value is read.</summary>
internal sealed record SortKey<TRow>(string Name, string Expression, CursorValueKind Kind, bool Nullable, Func<TRow, CursorValue> Read);

internal readonly record struct SortTerm<TRow>(SortKey<TRow> Key, bool Descending);

/// <summary>
/// A parsed, normalised sort of a list (its keys, directions and the id last): the ORDER BY, the keyset predicate that
/// continues after a row, and the values a cursor must carry to name that row.
/// </summary>
public sealed class KeysetSort<TRow>
{
    private const string ParameterPrefix = "after_";

    private readonly IReadOnlyList<SortTerm<TRow>> terms;

    internal KeysetSort(IReadOnlyList<SortTerm<TRow>> terms)
    {
        this.terms = terms;
        Normalized = string.Join(",", terms.Select(term => (term.Descending ? "-" : "") + term.Key.Name));
        Shape = [.. terms.Select(term => term.Key.Kind)];
        OrderBy = "ORDER BY " + string.Join(", ", terms.Select(term =>
            term.Key.Expression + (term.Descending ? " DESC" : " ASC") + (term.Key.Nullable ? " NULLS LAST" : "")));
    }

    /// <summary>The sort as text with the id made explicit (<c>-priority,created_at,id</c>): what a cursor is bound to.</summary>
    public string Normalized { get; }

    /// <summary>The kinds of the values a cursor of this sort carries, in order.</summary>
    internal CursorValueKind[] Shape { get; }

    /// <summary>The ORDER BY clause, assembled from the declared expressions only.</summary>
    internal string OrderBy { get; }

    /// <summary>The values of <paramref name="row"/>'s sort keys: the position a page after it continues from.</summary>
    internal CursorValue[] Position(TRow row) => [.. terms.Select(term => term.Key.Read(row))];

    /// <summary>True when every value of a decoded position fits its key (a non-nullable key never holds null).</summary>
    internal bool Accepts(CursorValue[] position) =>
        position.Length == terms.Count
        && terms.Select((term, i) => term.Key.Nullable || position[i].Kind != CursorValueKind.Null).All(fits => fits);

    /// <summary>
    /// The predicate "comes after <paramref name="position"/> in this order", from the declared expressions and the
    /// parameters <c>@after_0</c>.. (each added through <paramref name="addParameter"/>). When every key has one direction
    /// and none is nullable it is a row comparison, <c>(a, id) &gt; (@after_0, @after_1)</c>, which a composite index on
    /// the same keys answers with one range scan; otherwise the expanded form
    /// <c>(a &gt; @after_0) OR (a = @after_0 AND b &lt; @after_1) OR …</c>. Nulls sort last, so after a null value of a
    /// key comes no other value of it (that alternative is left out), after a value come the beyond ones and the nulls,
    /// and "equal to null" is <c>IS NULL</c>.
    /// </summary>
    internal string Predicate(CursorValue[] position, Action<string, CursorValue> addParameter)
    {
        for (var i = 0; i < terms.Count; i++)
        {
            if (position[i].Kind != CursorValueKind.Null)
                addParameter(ParameterPrefix + i, position[i]);
        }

        if (terms.All(term => !term.Key.Nullable && term.Descending == terms[0].Descending))
        {
            var columns = string.Join(", ", terms.Select(term => term.Key.Expression));
            var parameters = string.Join(", ", terms.Select((_, i) => "@" + ParameterPrefix + i));
            return $"({columns}) {(terms[0].Descending ? "<" : ">")} ({parameters})";
        }

        var alternatives = new List<string>();
        var equalBefore = new StringBuilder();
        for (var i = 0; i < terms.Count; i++)
        {
            var (key, descending) = (terms[i].Key, terms[i].Descending);
            var parameter = "@" + ParameterPrefix + i;
            var isNull = position[i].Kind == CursorValueKind.Null;
            // Nulls sort last: nothing comes after a null in this key; after a value come greater (or lesser) values and nulls.
            if (!isNull)
            {
                var beyond = $"{key.Expression} {(descending ? "<" : ">")} {parameter}";
                alternatives.Add("(" + equalBefore + (key.Nullable ? $"({beyond} OR {key.Expression} IS NULL)" : beyond) + ")");
            }
            equalBefore.Append(isNull ? $"{key.Expression} IS NULL AND " : $"{key.Expression} = {parameter} AND ");
        }
        return "(" + string.Join(" OR ", alternatives) + ")";
    }
}
