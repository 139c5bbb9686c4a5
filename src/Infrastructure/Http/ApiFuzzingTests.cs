using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Tests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace TaskRunner.Infrastructure.Http;

/// <summary>
/// The fuzz run's service: the test settings, except that actions may not target private addresses (a fuzzed URL must not
/// make the service post to whatever listens on this machine).
/// </summary>
public sealed class FuzzService : ServiceFixture
{
    protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
    [
        .. BaseSettings(connectionString).Where(setting => setting.Key != "Tasks:AllowPrivateActionDestinations"),
        new("Tasks:AllowPrivateActionDestinations", "false"),
    ];
}

/// <summary>
/// Fuzzing driven by the service's own OpenAPI document: every operation, with its path, query, header and body parameters
/// generated hostile (see <see cref="FuzzRequests"/>), sent as the admin, as a member and anonymously. No request may get a
/// 5xx other than 503, and none may hang. Settings (environment): FUZZ_SEED (default fixed), FUZZ_REQUESTS (10,000),
/// FUZZ_CONCURRENCY (8), FUZZ_TIMEOUT_SECONDS (60: above the longest legal long poll), FUZZ_CASE (replay one case).
/// </summary>
public sealed class ApiFuzzingTests(FuzzService service, ITestOutputHelper output) : IClassFixture<FuzzService>
{
    private const ulong DefaultSeed = 20_261_206;
    private const int CasesPerWave = 1_000;
    private const int MaxRequestBodyBytes = 1024 * 1024;

    [Fact]
    public async Task NoRequestBuiltFromTheOpenApiDocumentGetsAServerErrorOrHangs()
    {
        var seed = ulong.Parse(Environment.GetEnvironmentVariable("FUZZ_SEED") ?? DefaultSeed.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        var count = Setting("FUZZ_REQUESTS", 10_000);
        var concurrency = Setting("FUZZ_CONCURRENCY", 8);
        var timeout = TimeSpan.FromSeconds(Setting("FUZZ_TIMEOUT_SECONDS", 60));
        int[] cases = Environment.GetEnvironmentVariable("FUZZ_CASE") is { Length: > 0 } one
            ? [int.Parse(one, CultureInfo.InvariantCulture)]
            : Enumerable.Range(0, count).ToArray();

        using var client = ClientAddresses.From(service.BaseAddress, ClientAddresses.Next());
        client.Timeout = Timeout.InfiniteTimeSpan;
        var document = await OpenApiDocument.FetchAsync(client);
        var callers = await FuzzCallers.CreateAsync(service);
        var ids = new FuzzIds();
        var requests = new FuzzRequests(document, ids);
        var failures = new ConcurrentBag<string>();
        var statuses = new ConcurrentDictionary<int, int>();
        var clock = Stopwatch.StartNew();

        foreach (var wave in cases.Chunk(CasesPerWave))
        {
            await SeedAsync(ids, callers);
            await Parallel.ForEachAsync(wave, new ParallelOptions { MaxDegreeOfParallelism = concurrency }, async (number, _) =>
            {
                var request = requests.Generate(seed, number);
                var (status, problem) = await SendAsync(client, callers, request, timeout);
                statuses.AddOrUpdate(status, 1, (_, sum) => sum + 1);
                if (problem is not null)
                    failures.Add($"{problem}\n{request.Describe()}  replay: FUZZ_SEED={seed} FUZZ_CASE={number}\n");
            });
        }

        output.WriteLine($"{cases.Length} requests over {requests.OperationCount} operations in {clock.Elapsed.TotalSeconds:F0} s (seed {seed}); "
            + "by status: " + string.Join(", ", statuses.OrderBy(pair => pair.Key).Select(pair => $"{pair.Key}: {pair.Value}")));
        Assert.True(failures.IsEmpty, $"{failures.Count} of {cases.Length} fuzzed requests failed (5xx other than 503, a hang, or a dropped connection):\n"
            + string.Join('\n', failures.OrderBy(failure => failure, StringComparer.Ordinal).Take(40)));
    }

    private static int Setting(string name, int fallback) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } value ? int.Parse(value, CultureInfo.InvariantCulture) : fallback;

    /// <summary>
    /// The status, and what went wrong if anything did. A connection that fails without an answer is tried once more on a
    /// connection of its own: a keep-alive connection the server closed as the client reused it is not the request's fault.
    /// </summary>
    private static async Task<(int Status, string? Problem)> SendAsync(HttpClient client, FuzzCallers callers, FuzzRequest request, TimeSpan timeout)
    {
        var credential = callers.CredentialFor(request.Caller);
        var (status, problem, dropped) = await SendOnceAsync(client, request, credential, timeout);
        if (dropped)
        {
            using var fresh = ClientAddresses.From(client.BaseAddress!, ClientAddresses.Next());
            fresh.Timeout = Timeout.InfiniteTimeSpan;
            (status, problem, _) = await SendOnceAsync(fresh, request, credential, timeout);
        }
        if (status == 401 && credential is not null)
            await callers.RenewAsync(request.Caller, credential.Value);
        return (status, problem);
    }

    private static async Task<(int Status, string? Problem, bool Dropped)> SendOnceAsync(
        HttpClient client, FuzzRequest request, KeyValuePair<string, string>? credential, TimeSpan timeout)
    {
        using var message = new HttpRequestMessage(new HttpMethod(request.Method), new Uri(request.PathAndQuery, UriKind.Relative));
        foreach (var (name, value) in request.Headers)
            message.Headers.TryAddWithoutValidation(name, value);
        if (credential is { } header)
            message.Headers.TryAddWithoutValidation(header.Key, header.Value);
        if (request.Body is not null)
        {
            message.Content = new ByteArrayContent(request.Body);
            if (request.ContentType is not null)
                message.Content.Headers.TryAddWithoutValidation("Content-Type", request.ContentType);
        }
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            using var response = await client.SendAsync(message, deadline.Token);
            var body = await response.Content.ReadAsStringAsync(deadline.Token);
            var status = (int)response.StatusCode;
            return status is >= 500 and not 503
                ? (status, $"HTTP {status}: {(body.Length > 600 ? body[..600] : body)}", false)
                : (status, null, false);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            return (0, $"no answer within {timeout.TotalSeconds:F0} s (a hang)", false);
        }
        catch (HttpRequestException) when (request.Body is { Length: > MaxRequestBodyBytes })
        {
            // A body past the limit may be answered 413 and the connection closed while the client still sends.
            return (413, null, false);
        }
        catch (HttpRequestException error)
        {
            return (0, $"the connection failed without an answer: {error.Message} {error.InnerException?.Message}", true);
        }
    }

    /// <summary>
    /// Fresh rows for a wave, straight in the database: a project the member owns with a spare user in it, tasks (one depending
    /// on another, one in a batch), a comment, a schedule, an action template, a delivery, a concurrency rule, and sessions and
    /// API keys that are not the ones the fuzzer sends (so revoking them does not end the run's credentials).
    /// </summary>
    private async Task SeedAsync(FuzzIds ids, FuzzCallers callers)
    {
        var spare = await service.CreateUserAsync();
        var project = Guid.CreateVersion7();
        await service.ExecuteSqlAsync("INSERT INTO projects (id, name, created_by) VALUES ($1, $2, $3)", project, "fuzz " + project, callers.Member.Id);
        await service.ExecuteSqlAsync("INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, 'owner'), ($1, $3, 'viewer')",
            project, callers.Member.Id, spare.Id);
        var parent = Guid.CreateVersion7();
        var child = Guid.CreateVersion7();
        var batched = Guid.CreateVersion7();
        var batch = Guid.CreateVersion7();
        await service.ExecuteSqlAsync("""
            INSERT INTO tasks (id, project_id, title, created_by, pending_parents, batch_id)
            VALUES ($1, $4, 'fuzz parent', $5, 0, NULL), ($2, $4, 'fuzz child', $5, 1, NULL), ($3, $4, 'fuzz batched', $5, 0, $6)
            """, parent, child, batched, project, callers.Member.Id, batch);
        await service.ExecuteSqlAsync("INSERT INTO task_dependencies (child_id, parent_id) VALUES ($1, $2)", child, parent);
        var comment = Guid.CreateVersion7();
        await service.ExecuteSqlAsync("INSERT INTO task_comments (id, task_id, author_id, body) VALUES ($1, $2, $3, 'fuzz')", comment, parent, callers.Member.Id);
        var schedule = Guid.CreateVersion7();
        await service.ExecuteSqlAsync("""
            INSERT INTO schedules (id, project_id, created_by, cron, timezone, task_template, enabled)
            VALUES ($1, $2, $3, '0 3 * * *', 'UTC', '{"title":"fuzz scheduled"}', false)
            """, schedule, project, callers.Member.Id);
        var template = Guid.CreateVersion7();
        await service.ExecuteSqlAsync("INSERT INTO action_templates (id, project_id, name, trigger, url) VALUES ($1, $2, $3, 'success', 'https://hooks.example.test/a')",
            template, project, "fuzz " + template);
        var delivery = Guid.CreateVersion7();
        await service.ExecuteSqlAsync("""
            INSERT INTO outbox (id, task_id, trigger, action, payload, status)
            VALUES ($1, $2, 'success', '{"trigger":"success","url":"https://hooks.example.test/a","method":"POST"}', '{}', 'dead')
            """, delivery, parent);
        var rule = Guid.CreateVersion7();
        await service.ExecuteSqlAsync("INSERT INTO concurrency_rules (id, concurrency_key, max_running) VALUES ($1, $2, 2)", rule, "fuzz-" + rule);
        foreach (var (kind, id) in new[]
        {
            ("projects", project), ("users", spare.Id), ("tasks", parent), ("tasks", child), ("tasks", batched), ("batches", batch),
            ("comments", comment), ("schedules", schedule), ("action-templates", template), ("deliveries", delivery), ("concurrency-rules", rule),
        })
        {
            ids.Add(kind, id);
        }
        foreach (var owner in new[] { callers.Admin, callers.Member })
        {
            var session = Guid.CreateVersion7();
            await service.ExecuteSqlAsync("INSERT INTO sessions (id, user_id, expires_at) VALUES ($1, $2, now() + interval '1 day')", session, owner.Id);
            ids.Add("sessions", session);
            var key = Guid.CreateVersion7();
            await service.ExecuteSqlAsync("INSERT INTO api_keys (id, user_id, name, role, prefix, secret_hash) VALUES ($1, $2, 'spare', 'member', $3, $4)",
                key, owner.Id, Convert.ToHexString(RandomNumberGenerator.GetBytes(6)), RandomNumberGenerator.GetBytes(32));
            ids.Add("api-keys", key);
        }
    }
}

/// <summary>
/// The fuzzer's identities: the admin and a member, each with a session and an API key. A session ended by a fuzzed logout
/// is replaced by a new login, from an address of its own so the fuzzed failed logins cannot block it.
/// </summary>
public sealed class FuzzCallers
{
    private readonly HttpClient loginClient;
    private readonly SemaphoreSlim renewing = new(1, 1);
    private readonly Dictionary<FuzzCaller, KeyValuePair<string, string>> credentials = [];

    private FuzzCallers(ServiceFixture service, TestAccount admin, TestAccount member)
    {
        Admin = admin;
        Member = member;
        loginClient = service.CreateClientFrom(ClientAddresses.Next());
    }

    public TestAccount Admin { get; }

    public TestAccount Member { get; }

    public static async Task<FuzzCallers> CreateAsync(ServiceFixture service)
    {
        var callers = new FuzzCallers(service, await service.CreateUserAsync(Roles.Admin), await service.CreateUserAsync(Roles.Member));
        await callers.LoginAsync(FuzzCaller.AdminSession);
        await callers.LoginAsync(FuzzCaller.MemberSession);
        callers.credentials[FuzzCaller.AdminKey] = new("X-API-Key", await callers.CreateKeyAsync(callers.Admin, "fuzz"));
        callers.credentials[FuzzCaller.MemberKey] = new("X-API-Key", await callers.CreateKeyAsync(callers.Member, "fuzz"));
        return callers;
    }

    public KeyValuePair<string, string>? CredentialFor(FuzzCaller caller)
    {
        lock (credentials)
            return credentials.TryGetValue(caller, out var credential) ? credential : null;
    }

    /// <summary>Logs in again when the session that got a 401 is still the current one.</summary>
    public async Task RenewAsync(FuzzCaller caller, KeyValuePair<string, string> used)
    {
        if (caller is not (FuzzCaller.AdminSession or FuzzCaller.MemberSession))
            return;
        await renewing.WaitAsync();
        try
        {
            if (CredentialFor(caller) is { } current && current.Value == used.Value)
                await LoginAsync(caller);
        }
        finally
        {
            renewing.Release();
        }
    }

    private async Task<string> CreateKeyAsync(TestAccount owner, string name)
    {
        using var created = await PostKeyAsync(owner, name);
        return (await created.ReadJsonAsync()).GetProperty("key").GetString()!;
    }

    private async Task<HttpResponseMessage> PostKeyAsync(TestAccount owner, string name)
    {
        var session = credentials[owner == Admin ? FuzzCaller.AdminSession : FuzzCaller.MemberSession];
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/auth/api-keys") { Content = TestJson.Body(("name", name)) };
        request.Headers.TryAddWithoutValidation(session.Key, session.Value);
        var response = await loginClient.SendAsync(request);
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"creating a key failed: {(int)response.StatusCode}");
        return response;
    }

    private async Task LoginAsync(FuzzCaller caller)
    {
        var account = caller == FuzzCaller.AdminSession ? Admin : Member;
        var tokens = await loginClient.LoginAsync(account.Email, account.Password);
        var header = new AuthenticationHeaderValue("Bearer", tokens.GetProperty("access_token").GetString()).ToString();
        lock (credentials)
            credentials[caller] = new("Authorization", header);
    }
}
