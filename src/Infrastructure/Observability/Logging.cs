using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace TaskRunner.Infrastructure.Observability;

public static class Logging
{
    /// <summary>
    /// One JSON object per line on stdout, UTC timestamps: what log shippers parse without configuration. Every line
    /// carries <c>trace_id</c>, <c>span_id</c> and <c>request_id</c> (null outside a request or span), so any line leads
    /// to its request and its trace.
    /// </summary>
    public static WebApplicationBuilder AddJsonLogging(this WebApplicationBuilder builder)
    {
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(options => options.FormatterName = CorrelatedJsonFormatter.FormatterName);
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<ConsoleFormatter, CorrelatedJsonFormatter>());
        return builder;
    }

    /// <summary>Makes <paramref name="requestId"/> the request_id of every line logged within the returned scope.</summary>
    public static IDisposable? BeginRequestScope(this ILogger logger, string requestId) => logger.BeginScope(new RequestScope(requestId));

    private sealed record RequestScope(string RequestId)
    {
        public override string ToString() => "request_id=" + RequestId;
    }

    /// <summary>
    /// The .NET JSON console logger's shape (<c>Timestamp</c>, <c>EventId</c>, <c>LogLevel</c>, <c>Category</c>,
    /// <c>Message</c>, <c>Exception</c>, <c>State</c>) plus the correlation fields. Formatting happens on the logging thread,
    /// so <see cref="Activity.Current"/> is the span the line was written in.
    /// </summary>
    private sealed class CorrelatedJsonFormatter() : ConsoleFormatter(FormatterName)
    {
        public const string FormatterName = "taskrunner-json";

        public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
        {
            var message = logEntry.Formatter(logEntry.State, logEntry.Exception);
            if (message is null && logEntry.Exception is null)
                return;
            var requestId = new StrongBox<string?>();
            scopeProvider?.ForEachScope(static (scope, found) =>
            {
                if (scope is RequestScope request)
                    found.Value = request.RequestId;
            }, requestId);
            var activity = Activity.Current;

            var buffer = new ArrayBufferWriter<byte>(512);
            using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            {
                json.WriteStartObject();
                json.WriteString("Timestamp", DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture));
                json.WriteNumber("EventId", logEntry.EventId.Id);
                json.WriteString("LogLevel", LevelName(logEntry.LogLevel));
                json.WriteString("Category", logEntry.Category);
                json.WriteString("Message", message);
                if (logEntry.Exception is { } exception)
                    json.WriteString("Exception", exception.ToString());
                json.WriteString("trace_id", activity?.TraceId.ToHexString());
                json.WriteString("span_id", activity?.SpanId.ToHexString());
                json.WriteString("request_id", requestId.Value);
                if (logEntry.State is IReadOnlyList<KeyValuePair<string, object?>> state)
                {
                    json.WriteStartObject("State");
                    foreach (var (key, value) in state)
                        WriteValue(json, key, value);
                    json.WriteEndObject();
                }
                json.WriteEndObject();
            }
            textWriter.Write(Encoding.UTF8.GetString(buffer.WrittenSpan));
            textWriter.Write(Environment.NewLine);
        }

        private static string LevelName(LogLevel level) => level switch
        {
            LogLevel.Trace => "Trace",
            LogLevel.Debug => "Debug",
            LogLevel.Information => "Information",
            LogLevel.Warning => "Warning",
            LogLevel.Error => "Error",
            LogLevel.Critical => "Critical",
            _ => "None",
        };

        private static void WriteValue(Utf8JsonWriter json, string key, object? value)
        {
            switch (value)
            {
                case null:
                    json.WriteNull(key);
                    break;
                case bool flag:
                    json.WriteBoolean(key, flag);
                    break;
                case int number:
                    json.WriteNumber(key, number);
                    break;
                case long number:
                    json.WriteNumber(key, number);
                    break;
                case double number when double.IsFinite(number):
                    json.WriteNumber(key, number);
                    break;
                case DateTime time:
                    json.WriteString(key, time);
                    break;
                default:
                    json.WriteString(key, Convert.ToString(value, CultureInfo.InvariantCulture));
                    break;
            }
        }
    }
}
