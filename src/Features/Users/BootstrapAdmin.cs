using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Hosting;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Users;

/// <summary>
/// Creates the admin named in configuration (Auth:BootstrapAdminEmail/Password) when no account has that email, so a fresh
/// installation can be administered without open registration. Retries until the database answers.
/// </summary>
public sealed partial class BootstrapAdmin(
    NpgsqlDataSource dataSource,
    IOptions<AuthOptions> options,
    BackgroundFailures failures,
    ILogger<BootstrapAdmin> logger) : BackgroundService
{
    private const string InsertSql = """
        INSERT INTO users (id, email, display_name, role, password_hash)
        VALUES (@id, @email, 'Administrator', 'admin', @passwordHash)
        ON CONFLICT (email) DO NOTHING
        """;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        if (settings.BootstrapAdminEmail is not { } configuredEmail || settings.BootstrapAdminPassword is not { } password)
            return;
        var email = configuredEmail.Trim().ToLowerInvariant();
        var passwordHash = PasswordHasher.Hash(password);
        var guard = failures.For("bootstrap-admin");
        try
        {
            // Until the database answers (and is migrated).
            while (!await guard.RunAsync(async cancellationToken =>
                {
                    await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
                    if (await connection.ExecuteAsync(InsertSql, new { id = Ids.New(), email, passwordHash, cancellationToken }) > 0)
                        LogCreated(logger, email);
                }, stoppingToken))
            {
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Created the bootstrap admin {email}")]
    private static partial void LogCreated(ILogger logger, string email);
}
