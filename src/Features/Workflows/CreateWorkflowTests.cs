using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Workflows;

public sealed class CreateWorkflowTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private const string Minimal = """
        name: minimal
        tasks:
          - key: only
            title: The only task
        """;

    private async Task<(HttpClient Client, Guid ProjectId)> EditorWithProjectAsync()
    {
        var account = await service.CreateUserAsync();
        var project = await service.CreateProjectAsync(account);
        return (await service.ClientForAsync(account), project);
    }

    private static async Task<HttpResponseMessage> PostAsync(HttpClient client, Guid project, HttpContent body) =>
        await client.PostAsync($"/api/v1/projects/{project}/workflows", body);

    [Fact]
    public async Task TheFirstYamlExampleOfTheDocsCanBePostedAsItIsAndRunWithItsDefaults()
    {
        var doc = await File.ReadAllTextAsync(Path.Combine(Repository.Root, "docs", "workflows.md"));
        var example = Regex.Match(doc, "```yaml\n(.*?)```", RegexOptions.Singleline).Groups[1].Value;
        var (client, project) = await EditorWithProjectAsync();

        var workflow = await client.CreateWorkflowAsync(project, example);
        using var run = await client.StartRunAsync(workflow);

        Assert.Equal(HttpStatusCode.Created, run.StatusCode);
        var body = await run.ReadJsonAsync();
        var tasks = body.GetProperty("tasks").EnumerateArray().ToList();
        Assert.Equal(5, tasks.Count);
        Assert.Equal("Extract us sales for 2026-01-31", tasks[1].GetProperty("title").GetString());
        Assert.Equal(60, tasks[1].GetProperty("priority").GetInt32());
        Assert.Equal(body.GetProperty("id").GetString(), tasks[1].GetProperty("metadata").GetProperty("run").GetString());
        var refs = body.GetProperty("refs");
        var report = tasks.Single(task => task.GetProperty("id").GetString() == refs.GetProperty("report").GetString());
        Assert.Equal(
            new[] { "extract[0]", "extract[1]", "extract[2]" }.Select(key => refs.GetProperty(key).GetString()).Order(),
            report.GetProperty("depends_on").EnumerateArray().Select(parent => parent.GetProperty("task_id").GetString()).Order());
        Assert.Equal(body.GetProperty("batch_id").GetString(), run.Headers.GetValues("X-Batch-ID").Single());
    }

    [Fact]
    public async Task AYamlAliasBombIsRefusedBeforeItExpands()
    {
        var bomb = new StringBuilder("name: lol\nlol0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for (var level = 1; level <= 9; level++)
            bomb.Append($"lol{level}: &a{level} [" + string.Join(", ", Enumerable.Repeat($"*a{level - 1}", 10)) + "]\n");
        bomb.Append("tasks: [{key: a, title: a, metadata: {x: *a9}}]\n");
        var (client, project) = await EditorWithProjectAsync();

        using var response = await PostAsync(client, project, WorkflowFixtures.Yaml(bomb.ToString()));

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        var error = Assert.Single(problem.GetProperty("errors").EnumerateObject());
        Assert.Contains("expands to more than", error.Value[0].GetString());
        Assert.Contains("line ", error.Value[0].GetString());
    }

    [Fact]
    public async Task NestingDeeperThan64LevelsIsRefusedInYamlAndInJson()
    {
        var (client, project) = await EditorWithProjectAsync();
        var deep = new string('[', 100) + new string(']', 100);

        using var yaml = await PostAsync(client, project, WorkflowFixtures.Yaml($"name: deep\nx: {deep}\n"));
        using var json = await PostAsync(client, project, TestJson.Raw($$"""{"name": "deep", "x": {{deep}}}"""));

        foreach (var response in new[] { yaml, json })
        {
            var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
            Assert.Contains("nests deeper than 64 levels", problem.GetProperty("errors").EnumerateObject().Single().Value[0].GetString());
        }
    }

    [Fact]
    public async Task ADuplicateKeyIsRefusedWithItsPathLineAndColumn()
    {
        var (client, project) = await EditorWithProjectAsync();
        const string yaml = "name: twice\ntasks:\n  - key: a\n    title: first\n    title: second\n";

        using var response = await PostAsync(client, project, WorkflowFixtures.Yaml(yaml));

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal(["is a duplicate key (line 5, column 5)"], problem.Errors("tasks[0].title"));
    }

    [Fact]
    public async Task ADuplicateKeyInJsonIsRefusedWithItsPath()
    {
        var (client, project) = await EditorWithProjectAsync();

        using var response = await PostAsync(client, project,
            TestJson.Raw("""{"name": "twice", "name": "again", "tasks": [{"key": "a", "title": "a"}]}"""));

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal(["is a duplicate key"], problem.Errors("name"));
    }

    [Fact]
    public async Task TabIndentationIsRefusedWithThePositionYamlGives()
    {
        var (client, project) = await EditorWithProjectAsync();

        using var response = await PostAsync(client, project, WorkflowFixtures.Yaml("name: tabs\ntasks:\n\t- key: a\n\t  title: a\n"));

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        // YamlDotNet marks the mapping the tab breaks, here the document's.
        Assert.Equal(["is not valid YAML (line 1, column 1): While scanning a mapping, found invalid tab as indentation."],
            problem.Errors("body"));
    }

    [Theory]
    [InlineData("""{"\udfff": {}}""", "application/json", "body")]
    [InlineData("""{"name": "nul\u0000", "tasks": [{"key": "a", "title": "a"}]}""", "application/json", "name")]
    [InlineData("name: \"nul \\0\"\ntasks: [{key: a, title: a}]\n", "application/yaml", "name")]
    public async Task TextPostgreSqlCannotStoreIsRefusedAtItsPath(string definition, string mediaType, string path)
    {
        var (client, project) = await EditorWithProjectAsync();

        using var response = await PostAsync(client, project, WorkflowFixtures.Definition(Encoding.UTF8.GetBytes(definition), mediaType));

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.True(problem.GetProperty("errors").TryGetProperty(path, out var messages), $"no error at {path}: {problem}");
        Assert.Contains("PostgreSQL cannot store", Assert.Single(messages.EnumerateArray()).GetString());
        using var list = await client.GetAsync($"/api/v1/projects/{project}/workflows");
        Assert.Equal(0, (await list.ReadJsonAsync()).GetProperty("data").GetArrayLength());
    }

    [Fact]
    public async Task ABodyThatIsNotUtf8IsMalformed()
    {
        var (client, project) = await EditorWithProjectAsync();
        var latin1 = Encoding.Latin1.GetBytes("name: caf\u00e9\ntasks: [{key: a, title: a}]\n");

        using var response = await PostAsync(client, project, WorkflowFixtures.Definition(latin1, "application/yaml"));

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.Equal(["is not valid UTF-8"], problem.Errors("body"));
    }

    [Fact]
    public async Task ATenMegabyteDefinitionIsTooLargeAndNeverParsed()
    {
        var (client, project) = await EditorWithProjectAsync();
        var huge = Encoding.UTF8.GetBytes("name: huge\ndescription: " + new string('x', 10 * 1024 * 1024) + "\ntasks: [{key: a, title: a}]\n");
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/v1/projects/{project}/workflows")
        {
            Content = WorkflowFixtures.Definition(huge, "application/yaml"),
        };
        // The server answers from the headers; the client then need not send 10 MB into a closing connection.
        request.Headers.ExpectContinue = true;

        using var response = await client.SendAsync(request);

        await response.AssertProblemAsync(HttpStatusCode.RequestEntityTooLarge);
    }

    [Fact]
    public async Task AnotherMediaTypeIsUnsupported()
    {
        var (client, project) = await EditorWithProjectAsync();

        using var response = await PostAsync(client, project, WorkflowFixtures.Definition(Encoding.UTF8.GetBytes(Minimal), "text/plain"));

        await response.AssertProblemAsync(HttpStatusCode.UnsupportedMediaType);
    }

    [Fact]
    public async Task EveryDefinitionErrorIsReportedAtOnceByPath()
    {
        var (client, project) = await EditorWithProjectAsync();
        const string yaml = """
            name: broken
            parameters:
              count: {type: integer, default: "three"}
              loose: {type: string}
            tasks:
              - key: a
                titel: typo
                title: "A {{ params.nope }}"
                depends_on: [b]
              - key: b
                title: B
                depends_on: [a, ghost]
                priority: "{{ params.loose }}"
              - key: c
                title: "{{ item }}"
                for_each: "{{ params.count }}"
            """;

        using var response = await PostAsync(client, project, WorkflowFixtures.Yaml(yaml));

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Contains("must be a value of type integer", problem.Errors("parameters.count.default").Single());
        Assert.StartsWith("needs a default or required: true", problem.Errors("parameters.loose").Single());
        Assert.StartsWith("is not a known field", problem.Errors("tasks[0].titel").Single());
        Assert.Contains("(line 7, column 5)", problem.Errors("tasks[0].titel").Single());
        Assert.StartsWith("uses {{ params.nope }}, which names the undefined parameter 'nope'", problem.Errors("tasks[0].title").Single());
        Assert.StartsWith("uses {{ params.loose }}, of type string", problem.Errors("tasks[1].priority").Single());
        Assert.StartsWith("names 'count', a parameter of type integer", problem.Errors("tasks[2].for_each").Single());
        Assert.StartsWith("uses {{ item }} outside a for_each task", problem.Errors("tasks[2].title").Single());
    }

    [Fact]
    public async Task ACycleAndAnUnknownParentAreReportedOnTheirTasks()
    {
        var (client, project) = await EditorWithProjectAsync();
        const string yaml = """
            name: cycle
            tasks:
              - {key: a, title: A, depends_on: [c]}
              - {key: b, title: B, depends_on: [a, ghost]}
              - {key: c, title: C, depends_on: [b]}
            """;

        using var response = await PostAsync(client, project, WorkflowFixtures.Yaml(yaml));

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.StartsWith("names no task of this workflow ('ghost')", problem.Errors("tasks[1].depends_on[1]").Single());
        using var cyclic = await PostAsync(client, project, WorkflowFixtures.Yaml(yaml.Replace(", ghost", "", StringComparison.Ordinal)));
        var cycle = await cyclic.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Contains("forms a dependency cycle", cycle.Errors("tasks[0].depends_on").Single());
    }

    [Fact]
    public async Task ATaskTheBulkRulesRefuseIsRefusedWhenDefinedNotAtTheFirstRun()
    {
        var (client, project) = await EditorWithProjectAsync();
        const string yaml = """
            name: bad-kind
            parameters:
              kind: {type: string, default: "Not A Kind"}
            tasks:
              - {key: a, title: A, kind: "{{ params.kind }}"}
            """;

        using var response = await PostAsync(client, project, WorkflowFixtures.Yaml(yaml));

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Contains("(rendered with the parameters' defaults) (line 5,", problem.Errors("tasks[0].kind").Single());
    }

    [Fact]
    public async Task ViewersCannotDefineWorkflowsAndOutsidersDoNotSeeTheProject()
    {
        var owner = await service.CreateUserAsync();
        var viewer = await service.CreateUserAsync();
        var project = await service.CreateProjectAsync(owner, (viewer, ProjectRoles.Viewer));
        var outsider = await service.ClientForNewUserAsync();

        using var asViewer = await PostAsync(await service.ClientForAsync(viewer), project, WorkflowFixtures.Yaml(Minimal));
        using var asOutsider = await PostAsync(outsider, project, WorkflowFixtures.Yaml(Minimal));

        await asViewer.AssertProblemAsync(HttpStatusCode.Forbidden);
        await asOutsider.AssertProblemAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task ANameIsUniqueAmongTheLiveWorkflowsOfAProjectAndTheCreationIsAudited()
    {
        var (client, project) = await EditorWithProjectAsync();
        var first = await client.CreateWorkflowAsync(project, Minimal);

        using var again = await PostAsync(client, project, WorkflowFixtures.Yaml(Minimal));

        await again.AssertProblemAsync(HttpStatusCode.Conflict);
        Assert.Equal(1L, await service.ScalarAsync<long>(
            "SELECT count(*) FROM audit_log WHERE action = 'workflow.create' AND resource_id = $1", first.ToString()));
    }
}
