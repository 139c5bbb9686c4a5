using TaskRunner.Features.ApiKeys;
using TaskRunner.Features.Attachments;
using TaskRunner.Features.Audit;
using TaskRunner.Features.Auth;
using TaskRunner.Features.Cluster;
using TaskRunner.Features.Execution;
using TaskRunner.Features.Health;
using TaskRunner.Features.Projects;
using TaskRunner.Features.RealTime;
using TaskRunner.Features.Schedules;
using TaskRunner.Features.SearchAnalytics;
using TaskRunner.Features.Tasks;
using TaskRunner.Features.Users;
using TaskRunner.Features.Webhooks;
using TaskRunner.Features.Workflows;
using TaskRunner.Infrastructure.Cluster;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Events;
using TaskRunner.Infrastructure.Hosting;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Observability;
using TaskRunner.Infrastructure.RateLimiting;
using TaskRunner.Infrastructure.Security;

var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
{
    // Settings sit beside the binary whatever the working directory (watching a working directory with deep folders below
    // cost ≈ 80 ms of startup); they reload when a file changes, for the settings docs/operations.md names as reloadable.
    Args = args,
    ContentRootPath = AppContext.BaseDirectory,
});

// Options: typed, bound from appsettings + environment, validated before anything starts.
builder.Services.AddServiceOptions();

// Infrastructure.
builder.WebHost.UseKestrelHttpsConfiguration();
builder.AddJsonLogging();
builder.Services.AddDatabase();
builder.Services.AddEvents();
builder.Services.AddHttpConventions();
builder.Services.AddTelemetry(builder.Configuration);
builder.Services.AddGracefulShutdown();
builder.Services.AddApiDocumentation();
builder.Services.AddHealth();
builder.Services.AddIdentityAndAccess();
builder.Services.AddRateLimits();
builder.Services.AddRequestTimeoutPolicies();
builder.Services.AddCluster();

// Features.
builder.Services.AddAuthFeature();
builder.Services.AddUsersFeature();
builder.Services.AddAuditFeature();
builder.Services.AddProjectsFeature();
builder.Services.AddTasksFeature();
builder.Services.AddSearchAnalyticsFeature();
builder.Services.AddExecutionFeature();
builder.Services.AddSchedulesFeature();
builder.Services.AddWebhooksFeature();
builder.Services.AddAttachmentsFeature();
builder.Services.AddWorkflowsFeature();
builder.Services.AddRealTimeFeature();

var app = builder.Build();

// Middleware, outermost first.
app.UseForwardedClientAddress();
app.UseRequestId();
app.UseRequestLogging();
app.UseProblemResponses();
app.UseSecurityHeaders();
app.UseDeprecationHeaders();
app.UseHstsWhenHttps();
app.UseConfiguredCors();
app.UseResponseCompression();
app.UseWebAppFiles();
app.UseWebSockets();
app.UseAuthentication();
app.UseRateLimits();
app.UseAuthorization();
app.UseRequestTimeoutPolicies();
app.UseIdempotency();

// Operational endpoints at the root.
app.MapHealth();
app.MapMetrics();
app.MapApiDocumentation();

// Features under /api/v1.
var api = app.MapGroup("/api/v1").WithRouteLimits(RateLimitPolicies.Api);
api.MapAuth();
api.MapApiKeys();
api.MapUsers();
api.MapAudit();
api.MapProjects();
api.MapTasks();
api.MapExecution();
api.MapSchedules();
api.MapCluster();
api.MapSearchAnalytics();
api.MapWebhooks();
api.MapAttachments();
api.MapWorkflows();
api.MapRealTime();


return await app.RunWithStartupChecksAsync();

/// <summary>The entry point type, public so the test host can start the service in-process.</summary>
public partial class Program;
