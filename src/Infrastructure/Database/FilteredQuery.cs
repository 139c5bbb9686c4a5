using Npgsql;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Infrastructure.Database;

/// <summary>
/// The one way a handler assembles SQL from optional filters. Every fragment passed in is a constant written beside the
/// handler (the whitelist: a filter the handler does not name cannot appear), and every value travels as a typed
/// parameter. Only the filters present become predicates, so each combination is a plain statement whose plan can use
/// its index, which <c>@x IS NULL OR …</c> would defeat under generic plans.
/// </summary>
public sealed class FilteredQuery(NpgsqlCommand command)
{
    private readonly List<string> predicates = [];

    /// <summary>Adds a constant predicate and the value of the one parameter it uses.</summary>
    public FilteredQuery Where<T>(string predicate, string parameter, T value) => Where(predicate).Parameter(parameter, value);

    /// <summary>Adds a constant predicate without parameters (<c>deleted_at IS NULL</c>), or one whose parameters are added apart.</summary>
    public FilteredQuery Where(string predicate)
    {
        predicates.Add(predicate);
        return this;
    }

    /// <summary>
    /// Adds an access predicate (<see cref="ProjectAccess.OnProjectRow"/>, <see cref="ProjectAccess.OnTaskRow"/>, or a
    /// constant built on them) and the caller's access it reads, bound once by <see cref="ProjectAccess.Bind"/>.
    /// </summary>
    public FilteredQuery Where(string predicate, ProjectAccessBinding access)
    {
        access.AddTo(command.Parameters);
        return Where(predicate);
    }

    /// <summary>Adds a parameter used by a predicate already added, or by the select or order text.</summary>
    public FilteredQuery Parameter<T>(string name, T value)
    {
        command.Parameters.Add(new NpgsqlParameter<T>(name, value));
        return this;
    }

    /// <summary>
    /// Sets the command text of one page of a list: the constant select, the predicates and the keyset predicate after the
    /// page's position, the ORDER BY of its sort, and <c>LIMIT</c> one more than the page size (that extra row only tells
    /// whether another page follows). The parameters <c>@after_0</c>.. and <c>@page_limit</c> are taken.
    /// </summary>
    public NpgsqlCommand Complete<TRow>(string select, KeysetPage<TRow> page)
    {
        if (page.After is { } position)
            Where(page.Sort.Predicate(position, AddCursorParameter));
        Parameter("page_limit", page.Limit + 1);
        return Complete(select, page.Sort.OrderBy + "\nLIMIT @page_limit");
    }

    /// <summary>
    /// Reads one page of a list: <see cref="Complete{TRow}(string, KeysetPage{TRow})"/>, then each row mapped by column
    /// name with <paramref name="read"/>, ready for <see cref="Http.PageRequest{TRow, TResponse}.Result"/>.
    /// </summary>
    public Task<List<TRow>> ReadPageAsync<TRow>(
        string select, KeysetPage<TRow> page, Func<NamedRow, TRow> read, CancellationToken cancellationToken) =>
        Complete(select, page).ReadRowsAsync(read, cancellationToken);

    private void AddCursorParameter(string name, CursorValue value) => command.Parameters.Add(value.Kind switch
    {
        CursorValueKind.Timestamp => new NpgsqlParameter<DateTime>(name, value.AsTimestamp()),
        CursorValueKind.Id => new NpgsqlParameter<Guid>(name, value.AsId()),
        CursorValueKind.Number => new NpgsqlParameter<long>(name, value.AsNumber()),
        CursorValueKind.Text => new NpgsqlParameter<string>(name, value.AsText()),
        _ => throw new ArgumentOutOfRangeException(nameof(value), value.Kind, "a null position value has no parameter"),
    });

    /// <summary>Sets the command text: the constant select, the predicates joined with AND, then the constant tail.</summary>
    public NpgsqlCommand Complete(string select, string tail)
    {
        command.CommandText = predicates.Count == 0
            ? select + "\n" + tail
            : select + "\nWHERE " + string.Join(" AND ", predicates) + "\n" + tail;
        return command;
    }
}
