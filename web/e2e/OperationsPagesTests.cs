using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Playwright;
using SkiaSharp;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Web;

/// <summary>
/// The operations pages in a real headless Chromium: a task's attachments and deliveries, batches with their progress
/// and graph, bulk delete. Every page visited is saved as a screenshot and checked by axe-core, as in DashboardTests.
/// </summary>
public sealed class OperationsPagesTests(ServiceFixture service, BrowserFixture browser) : IClassFixture<ServiceFixture>, IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task AnUploadedImageShowsItsThumbnailAndCanBeDownloadedAndDeleted()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var task = await worker.CreateIdAsync("with a picture");
        var page = await browser.NewPageAsync(service);
        page.Dialog += async (_, dialog) => await dialog.AcceptAsync();
        await page.SignInAsync(worker.Account);
        await page.GotoAsync($"/tasks/{task}");

        await page.GetByLabel("Attach a file").SetInputFilesAsync(new FilePayload
        {
            Name = "halves.png", MimeType = "image/png", Buffer = AttachmentFiles.Image(400, 300, SKEncodedImageFormat.Png),
        });
        await page.GetByRole(AriaRole.Button, new() { Name = "Upload" }).ClickAsync();

        var thumbnail = page.GetByRole(AriaRole.Img, new() { Name = "Thumbnail of halves.png", Exact = true });
        await Assertions.Expect(thumbnail).ToBeVisibleAsync(new() { Timeout = 30_000 });
        Assert.StartsWith("data:image/", await thumbnail.GetAttributeAsync("src"));
        Assert.True(await thumbnail.EvaluateAsync<int>("image => image.naturalWidth") > 0, "the thumbnail did not decode");
        await page.CheckPageAsync("task-attachments");

        var download = await page.RunAndWaitForDownloadAsync(() =>
            page.GetByRole(AriaRole.Button, new() { Name = "Download halves.png" }).ClickAsync());
        Assert.Equal("halves.png", download.SuggestedFilename);

        await page.GetByRole(AriaRole.Button, new() { Name = "Delete halves.png" }).ClickAsync();
        await Assertions.Expect(page.GetByText("No attachments.")).ToBeVisibleAsync();
        using var listed = await worker.Client.GetAsync($"/api/v1/tasks/{task}/attachments");
        Assert.Equal(0, (await listed.ReadJsonAsync()).GetProperty("data").GetArrayLength());
    }

    [Fact]
    public async Task TheBatchesPageShowsProgressActsOnABatchAndDrawsItsGraph()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var batch = await CreateBatchAsync(worker, ("extract", null), ("transform", "extract"), ("load", "transform"));
        var page = await browser.NewPageAsync(service);
        page.Dialog += async (_, dialog) => await dialog.AcceptAsync();
        await page.SignInAsync(worker.Account);

        await page.GotoAsync($"/projects/{worker.ProjectId}");
        await page.GetByRole(AriaRole.Link, new() { Name = "Its batches" }).ClickAsync();
        var item = page.Locator($"li[data-batch-id='{batch}']");
        await Assertions.Expect(item.Locator(".progress-text")).ToContainTextAsync("0 of 3 finished (0 %): 3 pending");
        await page.CheckPageAsync("batches");

        await item.GetByRole(AriaRole.Button, new() { Name = "Pause" }).ClickAsync();
        await Assertions.Expect(item.Locator(".progress-text")).ToContainTextAsync("3 paused");
        await item.GetByRole(AriaRole.Button, new() { Name = "Cancel" }).ClickAsync();
        await Assertions.Expect(item.Locator(".progress-text")).ToContainTextAsync("3 of 3 finished (100 %): 3 cancelled");
        await Assertions.Expect(item.GetByRole(AriaRole.Progressbar)).ToHaveAttributeAsync("aria-valuenow", "3");

        await item.GetByRole(AriaRole.Link, new() { Name = "Show its graph" }).ClickAsync();
        await page.GetByRole(AriaRole.Heading, new() { Name = "Graph of the batch" }).WaitForAsync();
        await Assertions.Expect(page.Locator("svg.dag a.node")).ToHaveCountAsync(3);
        await Assertions.Expect(page.Locator("svg.dag .edges path")).ToHaveCountAsync(2);
        await Assertions.Expect(page.GetByRole(AriaRole.Link, new() { Name = "load: cancelled" })).ToBeVisibleAsync();
        await page.CheckPageAsync("batch-graph");
    }

    [Fact]
    public async Task AnotherClientsProgressOnABatchArrivesLive()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var batch = await CreateBatchAsync(worker, ("first", null), ("second", null));
        var page = await browser.NewPageAsync(service);
        await page.SignInAsync(worker.Account);
        await page.GotoAsync($"/projects/{worker.ProjectId}/batches");
        var progress = page.Locator($"li[data-batch-id='{batch}'] .progress-text");
        await Assertions.Expect(progress).ToContainTextAsync("2 pending");

        await Assertions.Expect(page.Locator(".live-state")).ToHaveTextAsync("● live");

        using (var paused = await worker.PostAsync($"/api/v1/batches/{batch}/pause"))
            Assert.Equal(HttpStatusCode.OK, paused.StatusCode);

        await Assertions.Expect(progress).ToContainTextAsync("2 paused");
    }

    [Fact]
    public async Task SelectedTasksAreDeletedAfterAConfirmation()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var doomed = await worker.CreateIdAsync("doomed one");
        var alsoDoomed = await worker.CreateIdAsync("doomed two");
        var kept = await worker.CreateIdAsync("kept");
        var page = await browser.NewPageAsync(service);
        string? question = null;
        page.Dialog += async (_, dialog) =>
        {
            question = dialog.Message;
            await dialog.AcceptAsync();
        };
        await page.SignInAsync(worker.Account);
        await page.GotoAsync($"/projects/{worker.ProjectId}");

        await page.GetByLabel("Select doomed one").CheckAsync();
        await page.GetByLabel("Select doomed two").CheckAsync();
        await page.GetByRole(AriaRole.Toolbar, new() { Name = "Selected tasks" }).GetByRole(AriaRole.Button, new() { Name = "Delete" }).ClickAsync();

        await Assertions.Expect(page.Locator(".outcome")).ToHaveTextAsync("2 of 2 deleted.");
        Assert.StartsWith("Delete 2 selected tasks?", question);
        await Assertions.Expect(page.Locator($"tr[data-task-id='{doomed}']")).ToHaveCountAsync(0);
        await Assertions.Expect(page.Locator($"tr[data-task-id='{alsoDoomed}']")).ToHaveCountAsync(0);
        await Assertions.Expect(page.Locator($"tr[data-task-id='{kept}']")).ToHaveCountAsync(1);
        await page.CheckPageAsync("project-tasks-after-delete");
        using var gone = await worker.Client.GetAsync($"/api/v1/tasks/{doomed}");
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
    }

    [Fact]
    public async Task DismissingTheConfirmationDeletesNothing()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var task = await worker.CreateIdAsync("spared");
        var page = await browser.NewPageAsync(service);
        page.Dialog += async (_, dialog) => await dialog.DismissAsync();
        await page.SignInAsync(worker.Account);
        await page.GotoAsync($"/projects/{worker.ProjectId}");

        await page.GetByLabel("Select spared").CheckAsync();
        await page.GetByRole(AriaRole.Toolbar, new() { Name = "Selected tasks" }).GetByRole(AriaRole.Button, new() { Name = "Delete" }).ClickAsync();

        await Assertions.Expect(page.GetByLabel("Select spared")).ToBeCheckedAsync();
        using var still = await worker.Client.GetAsync($"/api/v1/tasks/{task}");
        Assert.Equal(HttpStatusCode.OK, still.StatusCode);
    }

    /// <summary>A batch made by bulk create: each task named, depending on the one named beside it (or on none).</summary>
    private static async Task<string> CreateBatchAsync(EngineWorker worker, params (string Title, string? Parent)[] tasks)
    {
        var items = new JsonArray();
        foreach (var (title, parent) in tasks)
        {
            var item = new JsonObject { ["ref"] = title, ["title"] = title };
            if (parent is not null)
                item["depends_on"] = new JsonArray(JsonValue.Create(parent));
            items.Add(item);
        }
        using var response = await worker.PostAsync("/api/v1/tasks/bulk", new JsonObject { ["project_id"] = worker.ProjectId.ToString(), ["tasks"] = items });
        var body = await response.ReadJsonAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, body.ToString());
        return body.GetProperty("batch_id").GetString()!;
    }
}

/// <summary>A service that gives up on a delivery within seconds, so a test can watch one die.</summary>
public sealed class FastDeliveryDashboardService : ServiceFixture
{
    protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
    [
        .. BaseSettings(connectionString),
        new("Webhooks:RetrySchedule", "1"),
        new("Webhooks:AttemptTimeoutSeconds", "1"),
        new("Webhooks:TotalTimeoutSeconds", "2"),
        new("Webhooks:LeaseSeconds", "7"),
        new("Webhooks:PollSeconds", "1"),
        new("Webhooks:BreakSeconds", "1"),
    ];
}

public sealed class DeadLettersPageTests(FastDeliveryDashboardService service, BrowserFixture browser)
    : IClassFixture<FastDeliveryDashboardService>, IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task ADeadDeliveryIsRedeliveredFromTheDeadLettersPage()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Answer = (_, _) => new ReceiverAnswer(503);
        using var owner = await EngineWorker.StartAsync(service);
        var (task, _) = await owner.StartTaskAsync(WebhookSteps.Action("start", receiver.Url()));
        var dead = await owner.Client.WaitForDeliveryAsync(task, "dead");
        var deliveryId = dead.GetProperty("delivery").GetProperty("id").GetString();
        var page = await browser.NewPageAsync(service);
        await page.SignInAsync(owner.Account);

        await page.GetByRole(AriaRole.Link, new() { Name = "Dead letters" }).ClickAsync();
        var row = page.Locator($"tr[data-delivery-id='{deliveryId}']");
        await Assertions.Expect(row.Locator(".delivery")).ToHaveTextAsync("dead");
        await Assertions.Expect(row).ToContainTextAsync("503");
        await page.CheckPageAsync("dead-letters");

        receiver.Answer = (_, _) => ReceiverAnswer.Ok;
        await row.GetByRole(AriaRole.Button, new() { Name = "Redeliver" }).ClickAsync();

        await Assertions.Expect(row.Locator(".delivery")).Not.ToHaveTextAsync("dead");
        await owner.Client.WaitForDeliveryAsync(task, "delivered");
        await page.GetByRole(AriaRole.Button, new() { Name = "Refresh" }).ClickAsync();
        await Assertions.Expect(row).ToHaveCountAsync(0);

        await page.GotoAsync($"/tasks/{task}");
        var onTask = page.Locator($"tr[data-delivery-id='{deliveryId}']");
        await Assertions.Expect(onTask.Locator(".delivery")).ToHaveTextAsync("delivered");
        await page.CheckPageAsync("task-deliveries");
    }
}
