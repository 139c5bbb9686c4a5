namespace TaskRunner.Infrastructure.Database;

/// <summary>Server-generated identifiers: UUIDv7, time-ordered so new rows land at the right edge of their indexes.</summary>
public static class Ids
{
    public static Guid New() => Guid.CreateVersion7();
}
