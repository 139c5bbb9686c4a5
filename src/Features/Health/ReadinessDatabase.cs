using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;

namespace TaskRunner.Features.Health;

/// <summary>
/// Readiness's own connections: a pool of at most two, apart from the request pool, with a short timeout. A saturated
/// request pool slows this node's requests, but must not fail every node's probe at once: the load balancer would take
/// the whole cluster out. A database that is really gone still fails the probe, through these connections.
/// </summary>
public sealed class ReadinessDatabase(IOptions<DatabaseOptions> options) : IDisposable
{
    public const int TimeoutSeconds = 2;

    public NpgsqlDataSource DataSource { get; } = Build(options.Value.ConnectionString);

    public void Dispose() => DataSource.Dispose();

    private static NpgsqlDataSource Build(string connectionString)
    {
        var builder = new NpgsqlDataSourceBuilder(new NpgsqlConnectionStringBuilder(connectionString)
        {
            MaxPoolSize = 2,
            MinPoolSize = 0,
            Timeout = TimeoutSeconds,
            CommandTimeout = TimeoutSeconds,
            ApplicationName = "taskrunner-readiness",
        }.ConnectionString);
        // The probe reads built-in types only (int, bigint): without loading the server's type catalog, opening its first
        // connection costs no catalog query.
        builder.ConfigureTypeLoading(types => types.EnableTypeLoading(false));
        // The pool's label in the connection metrics; by default it would be the connection string.
        builder.Name = "taskrunner-readiness";
        return builder.Build();
    }
}
