using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Xunit;

namespace TaskRunner.Tests.Harness;

/// <summary>Workflow definitions sent as a client would: YAML or JSON text, through the API.</summary>
public static class WorkflowFixtures
{
    public static ByteArrayContent Yaml(string text) => Definition(Encoding.UTF8.GetBytes(text), "application/yaml");

    public static ByteArrayContent Definition(byte[] body, string mediaType)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        return content;
    }

    /// <summary>Defines a workflow in <paramref name="projectId"/> from YAML and returns its id.</summary>
    public static async Task<Guid> CreateWorkflowAsync(this HttpClient client, Guid projectId, string yaml)
    {
        using var response = await client.PostAsync($"/api/v1/projects/{projectId}/workflows", Yaml(yaml));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"expected 201, got {(int)response.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement.GetProperty("id").GetGuid();
    }

    /// <summary>Starts a run with a JSON body (<c>{}</c>: the default version with the defaults).</summary>
    public static Task<HttpResponseMessage> StartRunAsync(this HttpClient client, Guid workflowId, string body = "{}") =>
        client.PostAsync($"/api/v1/workflows/{workflowId}/runs", TestJson.Raw(body));
}
