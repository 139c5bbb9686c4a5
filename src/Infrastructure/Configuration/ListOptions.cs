using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace TaskRunner.Infrastructure.Configuration;

/// <summary>Paging of every list endpoint. Section <c>Lists</c>.</summary>
public sealed class ListOptions
{
    public const string Section = "Lists";

    /// <summary>The largest <c>limit</c> a client may ask for; more is a 400, not a silent cap, so clients notice.</summary>
    [Range(1, 1000, ErrorMessage = "must be between 1 and 1000")]
    public int MaxLimit { get; set; } = 200;
}

[OptionsValidator]
public sealed partial class ListOptionsValidator : IValidateOptions<ListOptions>;
