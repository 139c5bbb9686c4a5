using Npgsql;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Database;

public sealed class FilteredQueryTests : DatabaseTest
{
    private const string Select = "SELECT n FROM generate_series(1, 10) AS n";
    private const string Tail = "ORDER BY n LIMIT @limit";

    private async Task<List<int>> RunAsync(Action<FilteredQuery> filter)
    {
        await using var connection = await DataSource.OpenConnectionAsync();
        await using var command = connection.CreateCommand();
        var query = new FilteredQuery(command);
        filter(query);
        query.Parameter("limit", 100).Complete(Select, Tail);
        var values = new List<int>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
            values.Add(reader.GetInt32(0));
        return values;
    }

    [Fact]
    public async Task OnlyThePresentFiltersApplyJoinedWithAnd()
    {
        Assert.Equal(Enumerable.Range(1, 10), await RunAsync(_ => { }));
        Assert.Equal([4, 5, 6], await RunAsync(query => query.Where("n >= @min", "min", 4).Where("n <= @max", "max", 6)));
    }

    [Fact]
    public async Task ValuesTravelAsParametersNeverAsText()
    {
        await using var connection = await DataSource.OpenConnectionAsync();
        await using var command = connection.CreateCommand();

        new FilteredQuery(command).Where("n::text = @text", "text", "1; DROP TABLE users").Complete(Select, "ORDER BY n");

        Assert.DoesNotContain("DROP", command.CommandText);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.False(await reader.ReadAsync());
    }
}
