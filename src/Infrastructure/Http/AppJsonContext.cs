using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Mvc;
using TaskRunner.Features.ApiKeys;
using TaskRunner.Features.Attachments;
using TaskRunner.Features.Audit;
using TaskRunner.Features.Auth;
using TaskRunner.Features.Execution;
using TaskRunner.Features.Health;
using TaskRunner.Features.Projects;
using TaskRunner.Features.RealTime;
using TaskRunner.Features.Cluster;
using TaskRunner.Features.Schedules;
using TaskRunner.Features.SearchAnalytics;
using TaskRunner.Features.Tasks;
using TaskRunner.Features.Tasks.CreateTasks;
using TaskRunner.Features.Users;
using TaskRunner.Features.Webhooks;
using TaskRunner.Features.Workflows;

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
[JsonSerializable(typeof(DetailedHealthResponse))]
[JsonSerializable(typeof(RegisterRequest))]
[JsonSerializable(typeof(LoginRequest))]
[JsonSerializable(typeof(RefreshRequest))]
[JsonSerializable(typeof(TokenResponse))]
[JsonSerializable(typeof(BrowserSessionResponse))]
[JsonSerializable(typeof(ListResponse<SessionResponse>))]
[JsonSerializable(typeof(UserResponse))]
[JsonSerializable(typeof(ListResponse<UserResponse>))]
[JsonSerializable(typeof(UpdateUserRequest))]
[JsonSerializable(typeof(CreateUserRequest))]
[JsonSerializable(typeof(CreatedUserResponse))]
[JsonSerializable(typeof(PasswordTokenResponse))]
[JsonSerializable(typeof(ChangePasswordRequest))]
[JsonSerializable(typeof(RedeemPasswordTokenRequest))]
[JsonSerializable(typeof(TotpEnrolmentResponse))]
[JsonSerializable(typeof(TotpCodeRequest))]
[JsonSerializable(typeof(TotpDisableRequest))]
[JsonSerializable(typeof(RecoveryCodesResponse))]
[JsonSerializable(typeof(CreateApiKeyRequest))]
[JsonSerializable(typeof(CreatedApiKeyResponse))]
[JsonSerializable(typeof(ListResponse<ApiKeyResponse>))]
[JsonSerializable(typeof(SocketTicketResponse))]
[JsonSerializable(typeof(ProjectPresenceResponse))]
[JsonSerializable(typeof(ListResponse<AuditEntryResponse>))]
[JsonSerializable(typeof(TaskAuditEntryResponse))]
[JsonSerializable(typeof(ListResponse<TaskAuditEntryResponse>))]
[JsonSerializable(typeof(CreateProjectRequest))]
[JsonSerializable(typeof(UpdateProjectRequest))]
[JsonSerializable(typeof(ProjectResponse))]
[JsonSerializable(typeof(CreatedProjectResponse))]
[JsonSerializable(typeof(ListResponse<ProjectResponse>))]
[JsonSerializable(typeof(AddProjectMemberRequest))]
[JsonSerializable(typeof(ProjectMemberResponse))]
[JsonSerializable(typeof(ListResponse<ProjectMemberResponse>))]
[JsonSerializable(typeof(TaskResponse))]
[JsonSerializable(typeof(CreateTaskRequest))]
[JsonSerializable(typeof(BulkCreateTasksRequest))]
[JsonSerializable(typeof(BulkCreateTasksResponse))]
[JsonSerializable(typeof(UpdateTaskRequest))]
[JsonSerializable(typeof(BulkUpdateTasksRequest))]
[JsonSerializable(typeof(BulkDeleteTasksRequest))]
[JsonSerializable(typeof(BulkTaskResultsResponse))]
[JsonSerializable(typeof(CreateCommentRequest))]
[JsonSerializable(typeof(CommentResponse))]
[JsonSerializable(typeof(ListResponse<CommentResponse>))]
[JsonSerializable(typeof(ClaimTasksRequest))]
[JsonSerializable(typeof(ClaimTasksResponse))]
[JsonSerializable(typeof(HeartbeatRequest))]
[JsonSerializable(typeof(HeartbeatResponse))]
[JsonSerializable(typeof(CompleteTaskRequest))]
[JsonSerializable(typeof(CompleteTasksRequest))]
[JsonSerializable(typeof(CompleteTasksResponse))]
[JsonSerializable(typeof(BulkTaskCommandRequest))]
[JsonSerializable(typeof(BulkTaskCommandResultsResponse))]
[JsonSerializable(typeof(BatchResponse))]
[JsonSerializable(typeof(BatchSummaryResponse))]
[JsonSerializable(typeof(ListResponse<BatchSummaryResponse>))]
[JsonSerializable(typeof(TaskGraphResponse))]
[JsonSerializable(typeof(CreateConcurrencyRuleRequest))]
[JsonSerializable(typeof(ConcurrencyRuleResponse))]
[JsonSerializable(typeof(ListResponse<ConcurrencyRuleResponse>))]
[JsonSerializable(typeof(bool))]
[JsonSerializable(typeof(CreateScheduleRequest))]
[JsonSerializable(typeof(UpdateScheduleRequest))]
[JsonSerializable(typeof(ScheduleResponse))]
[JsonSerializable(typeof(ListResponse<ScheduleResponse>))]
[JsonSerializable(typeof(NodesResponse))]
[JsonSerializable(typeof(SearchAnalyticsResponse))]
[JsonSerializable(typeof(ListResponse<TaskResponse>))]
[JsonSerializable(typeof(AttachmentResponse))]
[JsonSerializable(typeof(ListResponse<AttachmentResponse>))]
[JsonSerializable(typeof(TaskSearchResponse))]
[JsonSerializable(typeof(ListResponse<TaskSearchResponse>))]
[JsonSerializable(typeof(TaskTitleSuggestions))]
[JsonSerializable(typeof(DeliveryResponse))]
[JsonSerializable(typeof(ListResponse<DeliveryResponse>))]
[JsonSerializable(typeof(DeliveryDetailResponse))]
[JsonSerializable(typeof(TaskAttemptResponse))]
[JsonSerializable(typeof(ListResponse<TaskAttemptResponse>))]
[JsonSerializable(typeof(WebhookSecretResponse))]
[JsonSerializable(typeof(CreateActionTemplateRequest))]
[JsonSerializable(typeof(UpdateActionTemplateRequest))]
[JsonSerializable(typeof(ActionTemplateResponse))]
[JsonSerializable(typeof(ListResponse<ActionTemplateResponse>))]
[JsonSerializable(typeof(CreatedActionTemplateResponse))]
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(ActionRequest[]))]
[JsonSerializable(typeof(WorkflowResponse))]
[JsonSerializable(typeof(ListResponse<WorkflowResponse>))]
[JsonSerializable(typeof(WorkflowVersionResponse))]
[JsonSerializable(typeof(WorkflowVersionSummary))]
[JsonSerializable(typeof(ListResponse<WorkflowVersionSummary>))]
[JsonSerializable(typeof(WorkflowDiffResponse))]
[JsonSerializable(typeof(StartWorkflowRunRequest))]
[JsonSerializable(typeof(WorkflowRunResponse))]
[JsonSerializable(typeof(WorkflowRunSummary))]
[JsonSerializable(typeof(ListResponse<WorkflowRunSummary>))]
public sealed partial class AppJsonContext : JsonSerializerContext;
