using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Mvc;
using TaskRunner.Features.Health;

namespace TaskRunner.Infrastructure.Http;

/// <summary>Every type that crosses the wire, serialized by source-generated code (no reflection at run time).</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DictionaryKeyPolicy = JsonKnownNamingPolicy.Unspecified,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    NumberHandling = JsonNumberHandling.Strict,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(ProblemDetails))]
[JsonSerializable(typeof(HttpValidationProblemDetails))]
[JsonSerializable(typeof(Dictionary<string, string[]>))]
[JsonSerializable(typeof(HealthReportResponse))]
public sealed partial class AppJsonContext : JsonSerializerContext;
