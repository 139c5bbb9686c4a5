using System.Globalization;

namespace TaskRunner.Infrastructure.Database;

/// <summary>
/// Arrays for Dapper.AOT calls, as PostgreSQL array literals (<c>{a,b,c}</c>) that the SQL casts: <c>= ANY (@ids::uuid[])</c>.
/// Dapper.AOT 1.1.0 hands an array-typed member of the args object to reflection Dapper (SqlMapper.PackListParameters),
/// which the AOT binary cannot contain; a text parameter stays on the generated path. Plain Npgsql commands pass typed
/// arrays (<c>NpgsqlParameter&lt;Guid[]&gt;</c>) instead.
/// </summary>
public static class PgArray
{
    public static string Of(IEnumerable<Guid> values) => "{" + string.Join(',', values) + "}";

    /// <summary>Each element quoted, with backslash and double quote escaped, so any text survives the literal.</summary>
    public static string Of(IEnumerable<string> values) =>
        "{" + string.Join(',', values.Select(value =>
            "\"" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"")) + "}";

    public static string Of(IEnumerable<long> values) =>
        "{" + string.Join(',', values.Select(value => value.ToString(CultureInfo.InvariantCulture))) + "}";
}
