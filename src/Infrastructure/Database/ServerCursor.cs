using System.Runtime.CompilerServices;
using Npgsql;

namespace TaskRunner.Infrastructure.Database;

/// <summary>
/// Reads a query of any size through a server-side cursor, <see cref="BatchSize"/> rows per round trip, so memory stays
/// constant however many rows match and the reader decides the pace. The cursor lives in its own transaction (one snapshot
/// for the whole read); when the reader stops — finished, failed or cancelled — the connection goes back to the pool and
/// the transaction and its cursor end with it, so a client that disconnects mid-export stops the database read.
/// </summary>
public static class ServerCursor
{
    public const int BatchSize = 1000;

    /// <summary>The head of the statement a <c>declare</c> callback completes: <c>Declare + "SELECT ... FROM ..."</c>.</summary>
    public const string Declare = "DECLARE export_rows NO SCROLL CURSOR FOR\n";

    private const string FetchSql = "FETCH FORWARD 1000 FROM export_rows";

    /// <summary>
    /// The rows of the query <paramref name="declare"/> writes into a command (its text starting with <see cref="Declare"/>,
    /// its values as parameters), each read by column name with <paramref name="read"/>.
    /// </summary>
    public static async IAsyncEnumerable<TRow> ReadAsync<TRow>(
        NpgsqlDataSource dataSource,
        Action<NpgsqlCommand> declare,
        Func<NamedRow, TRow> read,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var command = connection.CreateCommand())
        {
            command.Transaction = transaction;
            declare(command);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        await using var fetch = new NpgsqlCommand(FetchSql, connection, transaction);
        int fetched;
        do
        {
            fetched = 0;
            await using var reader = await fetch.ExecuteReaderAsync(cancellationToken);
            var row = new NamedRow(reader);
            while (await reader.ReadAsync(cancellationToken))
            {
                fetched++;
                yield return read(row);
            }
        }
        while (fetched == BatchSize);
        await transaction.CommitAsync(cancellationToken);
    }
}
