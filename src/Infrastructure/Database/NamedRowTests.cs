using Npgsql;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Database;

public sealed class NamedRowTests : DatabaseTest
{
    private async Task<List<T>> ReadAsync<T>(string sql, Func<NamedRow, T> read)
    {
        await using var connection = await DataSource.OpenConnectionAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ReadRowsAsync(read, CancellationToken.None);
    }

    [Fact]
    public async Task ColumnsAreReadByNameWhateverTheirPosition()
    {
        var rows = await ReadAsync("SELECT 'a' AS name, n AS number FROM generate_series(1, 3) AS n",
            row => (row.Get<int>("number"), row.Get<string>("name")));

        Assert.Equal([(1, "a"), (2, "a"), (3, "a")], rows);
    }

    [Fact]
    public async Task NullsReadAsNullForNullableValueTypesAndReferenceTypes()
    {
        var rows = await ReadAsync("SELECT NULL::int AS number, NULL::text AS text, 7 AS present, 'x' AS word",
            row => (row.Get<int?>("number"), row.GetOrNull<string>("text"), row.Get<int?>("present"), row.GetOrNull<string>("word")));

        Assert.Equal([((int?)null, (string?)null, (int?)7, (string?)"x")], rows);
    }

    [Fact]
    public async Task AMissingOrAmbiguousColumnIsRefusedRatherThanGuessed()
    {
        var missing = await Assert.ThrowsAsync<InvalidOperationException>(() => ReadAsync("SELECT 1 AS one", row => row.Get<int>("two")));
        var ambiguous = await Assert.ThrowsAsync<InvalidOperationException>(
            () => ReadAsync("SELECT 1 AS id, 2 AS id", row => row.Get<int>("id")));

        Assert.Contains("no column \"two\"", missing.Message);
        Assert.Contains("more than one column \"id\"", ambiguous.Message);
    }
}
