using Npgsql;

namespace TaskRunner.Infrastructure.Database;

/// <summary>
/// The current row of a result set, read by column name, so a row's mapping reads the SELECT's names rather than
/// counting its positions. The names are resolved to ordinals once per result set; reading a value costs one lookup and
/// allocates nothing.
/// </summary>
public sealed class NamedRow
{
    // A name that two columns share is ambiguous: reading it throws rather than picking one.
    private const int Ambiguous = -1;

    private readonly NpgsqlDataReader reader;
    private readonly Dictionary<string, int> ordinals;

    public NamedRow(NpgsqlDataReader reader)
    {
        this.reader = reader;
        ordinals = new Dictionary<string, int>(reader.FieldCount, StringComparer.Ordinal);
        for (var ordinal = 0; ordinal < reader.FieldCount; ordinal++)
        {
            var name = reader.GetName(ordinal);
            ordinals[name] = ordinals.ContainsKey(name) ? Ambiguous : ordinal;
        }
    }

    /// <summary>The value of a column that is never null here, or of a nullable value type (<c>Get&lt;DateTime?&gt;</c>).</summary>
    public T Get<T>(string column) => reader.GetFieldValue<T>(Ordinal(column));

    /// <summary>The value of a column of a reference type (<c>text</c>: <see cref="string"/>), or null.</summary>
    public T? GetOrNull<T>(string column) where T : class
    {
        var ordinal = Ordinal(column);
        return reader.IsDBNull(ordinal) ? null : reader.GetFieldValue<T>(ordinal);
    }

    private int Ordinal(string column) => ordinals.TryGetValue(column, out var ordinal) && ordinal != Ambiguous
        ? ordinal
        : throw new InvalidOperationException($"The result has {(ordinal == Ambiguous ? "more than one" : "no")} column \"{column}\".");
}

/// <summary>Reading every row of a command's result through <see cref="NamedRow"/>.</summary>
public static class NamedRows
{
    /// <summary>Executes <paramref name="command"/> and maps each row of its result with <paramref name="read"/>.</summary>
    public static async Task<List<TRow>> ReadRowsAsync<TRow>(
        this NpgsqlCommand command, Func<NamedRow, TRow> read, CancellationToken cancellationToken)
    {
        var rows = new List<TRow>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var row = new NamedRow(reader);
        while (await reader.ReadAsync(cancellationToken))
            rows.Add(read(row));
        return rows;
    }
}
