using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace TaskRunner.Infrastructure.Http;

/// <summary>
/// Marks a request field the handler's validation refuses to do without (422 "is required"). The field stays nullable in
/// C# so that a missing value is reported with every other error instead of failing deserialization; this tells the OpenAPI
/// document, and so generated clients, that it must be sent.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class ApiRequiredAttribute : Attribute;

/// <summary>
/// Makes the document's <c>required</c> and nullability say what the wire does. Left alone, every constructor parameter of a
/// record is listed as required, optional ones included. Here a request's property is required when its validation demands
/// it (<see cref="ApiRequiredAttribute"/>), a response's when the service always writes it (a non-nullable property, or one
/// never ignored); and since null properties are left out of responses, an optional property of a response is never null.
/// </summary>
public static class OpenApiContract
{
    /// <summary>Where the schema transformer leaves, for the document transformer, the fields a request must carry.</summary>
    private const string MustBeSentKey = "taskrunner-must-be-sent";

    public static OpenApiOptions AddExactContract(this OpenApiOptions options)
    {
        options.AddSchemaTransformer((schema, context, _) =>
        {
            if (context.JsonTypeInfo.Kind != JsonTypeInfoKind.Object || schema.Properties is not { Count: > 0 } properties)
                return Task.CompletedTask;
            var described = context.JsonTypeInfo.Properties.Where(property => properties.ContainsKey(property.Name)).ToList();
            schema.Required = described.Where(IsAlwaysWritten).Select(property => property.Name).ToHashSet(StringComparer.Ordinal);
            (schema.Metadata ??= new Dictionary<string, object>())[MustBeSentKey] =
                described.Where(MustBeSent).Select(property => property.Name).ToHashSet(StringComparer.Ordinal);
            return Task.CompletedTask;
        });
        options.AddDocumentTransformer((document, _, _) =>
        {
            ApplyDirections(document);
            // The server URL is the request's base address; the path carries the one slash between them.
            foreach (var server in Each(document.Servers))
                server.Url = server.Url?.TrimEnd('/') is { Length: > 0 } url ? url : "/";
            return Task.CompletedTask;
        });
        return options;
    }

    /// <summary>In a response: a non-nullable property, or one written even when null.</summary>
    private static bool IsAlwaysWritten(JsonPropertyInfo property) =>
        !property.IsGetNullable || Has<JsonIgnoreAttribute>(property, ignore => ignore.Condition == JsonIgnoreCondition.Never);

    /// <summary>In a request: a C# <c>required</c> member, or one the handler's validation demands.</summary>
    private static bool MustBeSent(JsonPropertyInfo property) => property.IsRequired || Has<ApiRequiredAttribute>(property);

    private static bool Has<T>(JsonPropertyInfo property, Func<T, bool>? matching = null) where T : Attribute =>
        property.AttributeProvider?.GetCustomAttributes(typeof(T), inherit: true).OfType<T>().Any(matching ?? (_ => true)) == true;

    /// <summary>
    /// A schema a request body reaches requires what a client must send (its fields may be null, which means absent). A
    /// schema only responses use requires what the service always writes, and since null properties are left out of
    /// responses, its optional properties are never null.
    /// </summary>
    private static void ApplyDirections(OpenApiDocument document)
    {
        if (document.Components?.Schemas is not { } schemas)
            return;
        var inRequests = new HashSet<string>(StringComparer.Ordinal);
        var inResponses = new HashSet<string>(StringComparer.Ordinal);
        foreach (var operation in Each(document.Paths?.Values).SelectMany(path => Each(path.Operations?.Values)))
        {
            foreach (var media in Each(operation.RequestBody?.Content?.Values))
                Reach(media.Schema, schemas, inRequests);
            foreach (var media in Each(operation.Responses?.Values).SelectMany(response => Each(response.Content?.Values)))
                Reach(media.Schema, schemas, inResponses);
        }

        foreach (var (name, component) in schemas)
        {
            if (component is not OpenApiSchema { Properties: { } properties } schema)
                continue;
            HashSet<string>? mustBeSent = null;
            if (schema.Metadata?.TryGetValue(MustBeSentKey, out var fields) == true)
            {
                mustBeSent = (HashSet<string>)fields;
                schema.Metadata.Remove(MustBeSentKey);
            }
            if (inRequests.Contains(name))
            {
                if (mustBeSent is not null)
                    schema.Required = mustBeSent;
            }
            else if (inResponses.Contains(name))
            {
                foreach (var field in properties.Keys.Where(field => schema.Required?.Contains(field) != true).ToList())
                    properties[field] = WithoutNull(properties[field]);
            }
        }
    }

    private static IOpenApiSchema WithoutNull(IOpenApiSchema property)
    {
        if (property is OpenApiSchema { Type: { } type } inline && type.HasFlag(JsonSchemaType.Null) && type != JsonSchemaType.Null)
        {
            inline.Type = type & ~JsonSchemaType.Null;
            return inline;
        }
        if (property is OpenApiSchema { OneOf: { Count: 2 } choices } && choices.Count(IsNullOnly) == 1)
            return choices.Single(choice => !IsNullOnly(choice));
        return property;
    }

    private static bool IsNullOnly(IOpenApiSchema schema) => schema is OpenApiSchema { Type: JsonSchemaType.Null };

    /// <summary>Every component schema <paramref name="schema"/> leads to, through references, properties, items and choices.</summary>
    private static void Reach(IOpenApiSchema? schema, IDictionary<string, IOpenApiSchema> schemas, HashSet<string> reached)
    {
        if (schema is null)
            return;
        if (schema is OpenApiSchemaReference reference)
        {
            if (reference.Reference.Id is { } id && reached.Add(id) && schemas.TryGetValue(id, out var target))
                Reach(target, schemas, reached);
            return;
        }
        foreach (var child in Each(schema.Properties?.Values)
                     .Concat(Each(schema.OneOf)).Concat(Each(schema.AnyOf)).Concat(Each(schema.AllOf))
                     .Append(schema.Items).Append(schema.AdditionalProperties))
            Reach(child, schemas, reached);
    }

    private static IEnumerable<T> Each<T>(IEnumerable<T>? items) => items ?? [];
}
