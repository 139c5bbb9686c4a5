using System.Buffers;
using System.Reflection;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.Net.Http.Headers;

namespace TaskRunner.Infrastructure.Http;

/// <summary>The two shapes of an export: one JSON object per line, or CSV with a header row.</summary>
public enum ExportFormat
{
    Ndjson,
    Csv,
}

/// <summary>What every export shares: its shape chosen by <c>Accept</c>, and the list parameters it does not take.</summary>
public static class Exports
{
    public const string NdjsonType = "application/x-ndjson";
    public const string CsvType = "text/csv";

    /// <summary>
    /// NDJSON when <c>Accept</c> is absent or prefers it (or any type); CSV when it prefers <c>text/csv</c>; null when it
    /// accepts neither (answer <see cref="NotAcceptable"/>).
    /// </summary>
    public static ExportFormat? Negotiate(HttpRequest request)
    {
        var accept = request.GetTypedHeaders().Accept;
        if (accept.Count == 0)
            return ExportFormat.Ndjson;
        foreach (var type in accept.Where(type => type.Quality is not 0).OrderByDescending(type => type.Quality ?? 1))
        {
            if (type.MediaType.Equals(CsvType, StringComparison.OrdinalIgnoreCase) || type.MediaType.Equals("text/*", StringComparison.OrdinalIgnoreCase))
                return ExportFormat.Csv;
            if (type.MediaType.Equals(NdjsonType, StringComparison.OrdinalIgnoreCase) || type.MatchesAllTypes
                || type.MediaType.Equals("application/*", StringComparison.OrdinalIgnoreCase))
                return ExportFormat.Ndjson;
        }
        return null;
    }

    /// <summary>An export takes a list's filters and <c>fields</c> but returns every row, so paging parameters are errors.</summary>
    public static void RejectPaging(IListQuery query, ValidationErrors errors)
    {
        foreach (var (parameter, value) in new[] { ("sort", query.Sort), ("cursor", query.Cursor), ("limit", query.Limit) })
        {
            if (value is not null)
                errors.Add(parameter, "is not taken by an export, which returns every matching row in its own order");
        }
    }

    /// <summary>The OpenAPI description of an export route.</summary>
    public static string Description(string item, string filters, string order) =>
        $"Every matching {item} in one response, {order}, streamed while it is read from the database (constant memory however "
        + $"many): {filters}, and `fields` to choose the {item}'s fields (the CSV columns). `Accept: {NdjsonType}` (the default) "
        + $"gives one JSON object per line; `Accept: {CsvType}` gives CSV (RFC 4180, a header row, CRLF, text that would start a "
        + "spreadsheet formula prefixed with `'`). Other types: 406. `sort`, `cursor` and `limit` are refused (400). A client that "
        + "disconnects ends the read. Counted by the `api` rate limit like any request.";

    public static ProblemHttpResult NotAcceptable(HttpContext http) => TypedResults.Problem(ProblemResponses.Complete(http,
        new Microsoft.AspNetCore.Mvc.ProblemDetails
        {
            Status = StatusCodes.Status406NotAcceptable,
            Title = "Not Acceptable",
            Detail = $"An export is {NdjsonType} (the default) or {CsvType}; send one of them in Accept.",
        }));
}

/// <summary>
/// A whole collection streamed as NDJSON or CSV while it is read, never held: each row is written as it arrives and the
/// response is flushed every <see cref="FlushEvery"/> rows, so the client's reading pace (TCP backpressure) paces the
/// database read. The request's abort token cancels the read when the client goes away.
/// </summary>
public sealed class ExportResult<T> : IResult, IEndpointMetadataProvider
{
    private const int FlushEvery = 500;

    private static readonly SearchValues<char> NeedsQuoting = SearchValues.Create(",\"\r\n");

    private readonly string name;
    private readonly FieldSelection<T> fields;
    private readonly ExportFormat format;
    private readonly Func<CancellationToken, IAsyncEnumerable<T>> rows;

    /// <param name="name">The file name offered to a browser, without extension.</param>
    public ExportResult(string name, FieldSelection<T> fields, ExportFormat format, Func<CancellationToken, IAsyncEnumerable<T>> rows)
    {
        this.name = name;
        this.fields = fields;
        this.format = format;
        this.rows = rows;
    }

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var response = httpContext.Response;
        var cancellationToken = httpContext.RequestAborted;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = format == ExportFormat.Csv ? Exports.CsvType + "; charset=utf-8; header=present" : Exports.NdjsonType;
        response.Headers.ContentDisposition = $"attachment; filename=\"{name}.{(format == ExportFormat.Csv ? "csv" : "ndjson")}\"";
        response.Headers.CacheControl = "no-store";

        var body = response.BodyWriter;
        using var json = new Utf8JsonWriter(body, new JsonWriterOptions { Encoder = fields.Encoder });
        if (format == ExportFormat.Csv)
            WriteLine(body, string.Join(',', fields.Columns.Select(column => column.Name)));

        try
        {
            await WriteRowsAsync(body, json, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The client went away: the read has stopped with it, and there is nobody left to answer.
        }
    }

    private async Task WriteRowsAsync(System.IO.Pipelines.PipeWriter body, Utf8JsonWriter json, CancellationToken cancellationToken)
    {
        var written = 0;
        await foreach (var row in rows(cancellationToken).WithCancellation(cancellationToken))
        {
            if (format == ExportFormat.Csv)
            {
                WriteLine(body, CsvLine(row));
            }
            else
            {
                fields.Write(json, row);
                json.Flush();
                json.Reset();
                body.Write("\n"u8);
            }
            if (++written % FlushEvery == 0 && (await body.FlushAsync(cancellationToken)).IsCompleted)
                return;
        }
        await body.FlushAsync(cancellationToken);
    }

    private string CsvLine(T row)
    {
        var line = new StringBuilder();
        for (var index = 0; index < fields.Columns.Count; index++)
        {
            var column = fields.Columns[index];
            if (index > 0)
                line.Append(',');
            line.Append(Cell(JsonSerializer.SerializeToUtf8Bytes(column.Get(row!), column.Type)));
        }
        return line.ToString();
    }

    /// <summary>
    /// One value as an RFC 4180 cell: text as itself, null empty, numbers and booleans as written in JSON, objects and
    /// arrays as their JSON. Text that a spreadsheet would run as a formula (<c>=</c>, <c>+</c>, <c>-</c>, <c>@</c>, tab,
    /// CR first) gets a leading <c>'</c> (OWASP's CSV injection advice); a cell with a comma, quote or line break is quoted.
    /// </summary>
    private static string Cell(byte[] json)
    {
        var reader = new Utf8JsonReader(json);
        reader.Read();
        var text = reader.TokenType switch
        {
            JsonTokenType.Null => "",
            JsonTokenType.String => reader.GetString()!,
            _ => Encoding.UTF8.GetString(json),
        };
        if (reader.TokenType == JsonTokenType.String && text.Length > 0 && text[0] is '=' or '+' or '-' or '@' or '\t' or '\r')
            text = "'" + text;
        return text.AsSpan().ContainsAny(NeedsQuoting) ? "\"" + text.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : text;
    }

    private static void WriteLine(IBufferWriter<byte> body, string line)
    {
        Encoding.UTF8.GetBytes(line, body);
        body.Write("\r\n"u8);
    }

    /// <summary>The OpenAPI document describes a 200 of either media type, each line (or row) one <typeparamref name="T"/>.</summary>
    static void IEndpointMetadataProvider.PopulateMetadata(MethodInfo method, EndpointBuilder builder)
    {
        builder.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status200OK, typeof(T), [Exports.NdjsonType, Exports.CsvType]));
        builder.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status406NotAcceptable, typeof(Microsoft.AspNetCore.Mvc.ProblemDetails), ["application/problem+json"]));
    }
}
