using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Xunit;

namespace TaskRunner.Tests.Harness;

/// <summary>
/// One running service on its own fresh database per test class: in-process, or the AOT binary in black-box mode.
/// Derive and override <see cref="Settings"/> for a class that needs other configuration.
/// </summary>
public class ServiceFixture : IAsyncLifetime
{
    private InProcessHost? inProcess;
    private ServiceProcess? blackBox;

    public string ConnectionString { get; private set; } = "";

    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>The in-process host's services; null in black-box mode.</summary>
    public IServiceProvider? Services => inProcess?.Services;

    /// <summary>
    /// A client of the service from outside: no redirects followed, no decompression, and no trace headers of its own (in
    /// process, the service's HTTP client tracing would otherwise add them to the test's requests).
    /// </summary>
    public HttpClient CreateClient() => new(new SocketsHttpHandler
    {
        AllowAutoRedirect = false,
        AutomaticDecompression = System.Net.DecompressionMethods.None,
        ActivityHeadersPropagator = null,
    })
    {
        BaseAddress = BaseAddress,
        Timeout = TimeSpan.FromSeconds(30),
    };

    /// <summary>The signing key test services share, so a test can also mint a token the service must reject.</summary>
    public const string JwtKeyId = "test-1";

    public const string SecretKeyId = "test-sealing";
    public static readonly string SecretKey = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("taskrunner-test-sealing-key-0123"));
    public static readonly string JwtKey = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("taskrunner-test-signing-key-0123456789"));

    /// <summary>What every test service needs: its database, the test signing key, quiet logs, no drain delay.</summary>
    public static IEnumerable<KeyValuePair<string, string?>> BaseSettings(string connectionString) =>
    [
        new("Database:ConnectionString", connectionString),
        new("Auth:JwtSigningKeys:" + JwtKeyId, JwtKey),
        new("Auth:JwtActiveKeyId", JwtKeyId),
        new("Webhooks:SecretEncryptionKeys:" + SecretKeyId, SecretKey),
        new("Webhooks:SecretEncryptionKeyId", SecretKeyId),
        new("Shutdown:DrainDelaySeconds", "0"),
        // Every test client logs in from 127.0.0.1; the rate-limit tests set their own, smaller limits.
        new("RateLimiting:Api:PermitLimit", "100000"),
        new("RateLimiting:Search:PermitLimit", "100000"),
        new("RateLimiting:Bulk:PermitLimit", "100000"),
        new("RateLimiting:Worker:PermitLimit", "100000"),
        new("RateLimiting:Auth:PermitLimit", "100000"),
        new("RateLimiting:Login:PermitLimit", "100000"),
        new("RateLimiting:LoginIp:PermitLimit", "100000"),
        new("RateLimiting:Register:PermitLimit", "100000"),
        new("RateLimiting:CredentialFailures:PermitLimit", "100000"),
        // Tests log many users in at once; the hashing cap has its own test class.
        new("Auth:MaxConcurrentPasswordHashes", "64"),
        new("Auth:PasswordHashQueueMilliseconds", "30000"),
        // Webhook receivers in tests listen on 127.0.0.1; the private-destination rule has its own test class.
        new("Tasks:AllowPrivateActionDestinations", "true"),
        new("Logging:LogLevel:Default", "Warning"),
        new("Logging:LogLevel:TaskRunner.Requests", "Warning"),
        // Each test database gets its own attachment store, removed with it.
        new("Attachments:FileSystemPath", AttachmentsPath(connectionString)),
    ];

    /// <summary>
    /// The folder of the file-system attachment store of the service on this database; named by a hash of the connection
    /// string, since the configuration tests start services on strings that name no database or are not valid at all.
    /// </summary>
    public static string AttachmentsPath(string connectionString) =>
        Path.Combine(Path.GetTempPath(), "taskrunner-test-attachments",
            Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(connectionString)))[..16]);

    /// <summary>Configuration the service starts with, as key → value (<c>Database:ConnectionString</c>).</summary>
    protected virtual IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) => BaseSettings(connectionString);

    /// <summary>The host environment's name, which also names the optional settings file <c>appsettings.{name}.json</c>.</summary>
    protected virtual string EnvironmentName => "Testing";

    /// <summary>The folder the running service reads its settings files from.</summary>
    public string ContentRoot => inProcess is not null
        ? inProcess.Services.GetRequiredService<Microsoft.Extensions.Hosting.IHostEnvironment>().ContentRootPath
        : ServiceProcess.ContentRoot;

    /// <summary>A migrated database; override to prepare something else (for example a schema that is behind).</summary>
    protected virtual Task<string> CreateDatabaseAsync() => TestDatabases.CreateAsync();

    /// <summary>Removes what <see cref="CreateDatabaseAsync"/> made.</summary>
    protected virtual Task DropDatabaseAsync() => TestDatabases.DropAsync(ConnectionString);

    public async Task InitializeAsync()
    {
        ConnectionString = await CreateDatabaseAsync();
        var settings = Settings(ConnectionString);
        if (TestMode.IsBlackBox)
        {
            blackBox = ServiceProcess.Start(settings, environment: EnvironmentName);
            if (!await blackBox.WaitUntilListeningAsync(TimeSpan.FromSeconds(30)))
                throw new InvalidOperationException("the service binary did not start:\n" + blackBox.Output);
            BaseAddress = blackBox.BaseAddress;
        }
        else
        {
            inProcess = new InProcessHost(settings, EnvironmentName);
            BaseAddress = inProcess.BaseAddress;
        }
    }

    public async Task DisposeAsync()
    {
        try
        {
            if (blackBox is not null)
                await blackBox.DisposeAsync();
            if (inProcess is not null)
                await inProcess.DisposeAsync();
        }
        finally
        {
            // Also after a host that failed to stop: a private database server must not outlive the run.
            await DropDatabaseAsync();
            if (ConnectionString.Length > 0 && Directory.Exists(AttachmentsPath(ConnectionString)))
                Directory.Delete(AttachmentsPath(ConnectionString), recursive: true);
        }
    }

    /// <summary>
    /// Runs SQL directly against this class's database, for arranging states the API cannot reach. Values travel as
    /// positional parameters ($1, $2, …), never in the SQL text.
    /// </summary>
    public async Task ExecuteSqlAsync(string sql, params object[] values)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var value in values)
            command.Parameters.AddWithValue(value);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>The first column of every row a query returns, as text; values as positional parameters.</summary>
    public async Task<List<string>> QueryTextAsync(string sql, params object[] values)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var value in values)
            command.Parameters.AddWithValue(value);
        await using var reader = await command.ExecuteReaderAsync();
        var texts = new List<string>();
        while (await reader.ReadAsync())
            texts.Add(reader.GetString(0));
        return texts;
    }
}
