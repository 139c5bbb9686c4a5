using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace TaskRunner.Infrastructure.Http;

/// <summary>
/// The fields of a response type that a <c>fields</c> parameter may select, read once from the type's source-generated JSON
/// contract (each property's JSON name, getter and type): no reflection, and no second table to keep in step with the
/// record. Declare one per response type as a static field: <c>new ResponseFields&lt;TaskResponse&gt;(AppJsonContext.Default.TaskResponse)</c>
/// (a list's <see cref="ListDefinition{TRow, TResponse}"/> holds it; the GET of one item reuses the list's).
/// </summary>
public sealed class ResponseFields<T>
{
    private readonly JsonTypeInfo<T> typeInfo;
    private readonly Field[] fields;

    public ResponseFields(JsonTypeInfo<T> typeInfo)
    {
        this.typeInfo = typeInfo;
        fields = [.. typeInfo.Properties.Select(property => new Field(
            property.Name,
            JsonEncodedText.Encode(property.Name),
            property.Get ?? throw new ArgumentException($"{typeof(T).Name}.{property.Name} cannot be read", nameof(typeInfo)),
            // A converter on the property (not its type) would be skipped when writing the field alone: refuse it up front.
            property.CustomConverter is null
                ? typeInfo.Options.GetTypeInfo(property.PropertyType)
                : throw new ArgumentException($"{typeof(T).Name}.{property.Name} has a property-level converter; put it on the type", nameof(typeInfo))))];
    }

    /// <summary>The JSON names of the fields, in the order they are written.</summary>
    public IEnumerable<string> Names => fields.Select(entry => entry.Name);

    /// <summary>
    /// The selection a <c>fields</c> parameter asks for: every field when absent, else the comma-separated names given (order
    /// and repeats do not matter). An empty or unknown name adds an error named <c>fields</c> and returns null.
    /// </summary>
    public FieldSelection<T>? Parse(string? requested, ValidationErrors errors)
    {
        if (requested is null)
            return new FieldSelection<T>(typeInfo, null, fields);
        var names = requested.Split(',');
        var unknown = names.Where(name => !fields.Any(field => field.Name == name)).Distinct().ToList();
        if (unknown.Count == 0)
            return new FieldSelection<T>(typeInfo, [.. fields.Where(field => names.Contains(field.Name))], fields);
        foreach (var name in unknown.Take(10))
        {
            errors.Add("fields", name.Length == 0
                ? "has an empty name; write field names separated by commas"
                : $"has no field '{(name.Length <= 40 ? name : name[..40] + "…")}'; fields: {string.Join(", ", Names)}");
        }
        return null;
    }

    internal sealed record Field(string Name, JsonEncodedText EncodedName, Func<object, object?> Get, JsonTypeInfo Type);
}

/// <summary>
/// Which fields of each item a response writes: all of them (the source-generated serializer, nulls omitted as everywhere)
/// or only those selected, in the type's order, each always present (<c>null</c> when empty) since the client asked for it.
/// </summary>
public sealed class FieldSelection<T>
{
    private readonly JsonTypeInfo<T> typeInfo;
    private readonly ResponseFields<T>.Field[]? selected;
    private readonly ResponseFields<T>.Field[] all;

    internal FieldSelection(JsonTypeInfo<T> typeInfo, ResponseFields<T>.Field[]? selected, ResponseFields<T>.Field[] all)
    {
        this.typeInfo = typeInfo;
        this.selected = selected;
        this.all = all;
    }

    /// <summary>The fields written, in order (all of them when none were selected): the columns of a CSV export.</summary>
    internal IReadOnlyList<ResponseFields<T>.Field> Columns => selected ?? all;

    /// <summary>The escaping of the serializer's options, for a writer that the items are written with.</summary>
    internal System.Text.Encodings.Web.JavaScriptEncoder? Encoder => typeInfo.Options.Encoder;

    /// <summary>The 200 response of a single resource, written with these fields.</summary>
    public ResourceResult<T> Ok(T item) => new(item, this);

    public void Write(Utf8JsonWriter writer, T item)
    {
        if (selected is null)
        {
            JsonSerializer.Serialize(writer, item, typeInfo);
            return;
        }
        writer.WriteStartObject();
        foreach (var field in selected)
        {
            writer.WritePropertyName(field.EncodedName);
            JsonSerializer.Serialize(writer, field.Get(item!), field.Type);
        }
        writer.WriteEndObject();
    }
}
