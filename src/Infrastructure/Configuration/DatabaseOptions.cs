using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using Npgsql;

namespace TaskRunner.Infrastructure.Configuration;

/// <summary>The PostgreSQL connection and its pool. Section <c>Database</c>.</summary>
public sealed class DatabaseOptions : IValidatableObject
{
    public const string Section = "Database";

    [Required(ErrorMessage = "is required (an Npgsql connection string)")]
    public string ConnectionString { get; set; } = "";

    [Range(1, 1000, ErrorMessage = "must be between 1 and 1000")]
    public int MaxPoolSize { get; set; } = 50;

    /// <summary>How long opening a connection, or waiting for a free one in the pool, may take before the request gets a 503.</summary>
    [Range(1, 120, ErrorMessage = "must be between 1 and 120")]
    public int ConnectionTimeoutSeconds { get; set; } = 5;

    [Range(1, 3600, ErrorMessage = "must be between 1 and 3600")]
    public int CommandTimeoutSeconds { get; set; } = 30;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (string.IsNullOrWhiteSpace(ConnectionString))
            yield break;
        string? problem = null;
        try
        {
            _ = new NpgsqlConnectionStringBuilder(ConnectionString);
        }
        catch (ArgumentException e)
        {
            problem = $"is not a valid Npgsql connection string ({e.Message})";
        }
        if (problem is not null)
            yield return new ValidationResult(problem, [nameof(ConnectionString)]);
    }
}

[OptionsValidator]
public sealed partial class DatabaseOptionsValidator : IValidateOptions<DatabaseOptions>;
