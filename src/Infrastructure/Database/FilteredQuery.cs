using Npgsql;

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
    public FilteredQuery Where<T>(string predicate, string parameter, T value)
    {
        predicates.Add(predicate);
        return Parameter(parameter, value);
    }

    /// <summary>Adds a parameter used by a predicate already added, or by the select or order text.</summary>
    public FilteredQuery Parameter<T>(string name, T value)
    {
        command.Parameters.Add(new NpgsqlParameter<T>(name, value));
        return this;
    }

    /// <summary>Sets the command text: the constant select, the predicates joined with AND, then the constant tail.</summary>
    public NpgsqlCommand Complete(string select, string tail)
    {
        command.CommandText = predicates.Count == 0
            ? select + "\n" + tail
            : select + "\nWHERE " + string.Join(" AND ", predicates) + "\n" + tail;
        return command;
    }
}
