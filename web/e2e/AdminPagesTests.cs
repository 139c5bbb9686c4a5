using System.Net;
using Microsoft.Playwright;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Web;

/// <summary>
/// The dashboard's schedules, nodes, administration (users, API keys, audit log) and presence, in a real headless Chromium
/// against the service and a real database, in both test modes. Every page visited is screenshotted and checked by axe-core.
/// </summary>
public sealed class AdminPagesTests(ServiceFixture service, BrowserFixture browser) : IClassFixture<ServiceFixture>, IClassFixture<BrowserFixture>
{
    /// <summary>Long enough for a leader election and a few socket round trips on a loaded box.</summary>
    private static readonly LocatorAssertionsToHaveTextOptions Patiently = new() { Timeout = 20_000 };

    [Fact]
    public async Task AnEditorCreatesACronScheduleSeesItsNextFireAndPausesAndResumesIt()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var page = await browser.NewPageAsync(service);
        await page.SignInAsync(worker.Account);
        await page.GotoAsync($"/projects/{worker.ProjectId}");
        await page.GetByRole(AriaRole.Link, new() { Name = "Schedules of this project" }).ClickAsync();
        await page.GetByRole(AriaRole.Heading, new() { Name = "New schedule" }).WaitForAsync();

        await page.GetByLabel("Cron expression", new() { Exact = true }).FillAsync("0 3 * * *");
        await page.GetByLabel("Time zone").FillAsync("Europe/Berlin");
        await page.GetByLabel("Title").FillAsync("nightly export");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create schedule" }).ClickAsync();

        var row = page.Locator("tr[data-schedule-id]", new() { HasText = "nightly export" });
        await Assertions.Expect(row.Locator(".schedule-state")).ToHaveTextAsync("active");
        await Assertions.Expect(row.Locator(".next-fire")).Not.ToHaveTextAsync("—");
        await page.CheckPageAsync("schedules");

        await row.GetByRole(AriaRole.Button, new() { Name = "Pause nightly export" }).ClickAsync();
        await Assertions.Expect(row.Locator(".schedule-state")).ToHaveTextAsync("paused");
        Assert.False(await service.ScalarAsync<bool>("SELECT enabled FROM schedules WHERE project_id = $1", worker.ProjectId));

        await row.GetByRole(AriaRole.Button, new() { Name = "Resume nightly export" }).ClickAsync();
        await Assertions.Expect(row.Locator(".schedule-state")).ToHaveTextAsync("active");
        await Assertions.Expect(row.Locator(".next-fire")).Not.ToHaveTextAsync("— (paused)");

        var narrow = await browser.NewPageAsync(service, width: 390);
        await narrow.SignInAsync(worker.Account);
        await narrow.GotoAsync($"/projects/{worker.ProjectId}/schedules");
        await Assertions.Expect(narrow.GetByRole(AriaRole.Button, new() { Name = "Pause nightly export" })).ToBeVisibleAsync();
        await narrow.CheckPageAsync("schedules-narrow");
        // Nothing may make a narrow screen scroll sideways (a long unbroken name in a heading did).
        Assert.Equal("", await narrow.EvaluateAsync<string>(
            "document.documentElement.scrollWidth > document.documentElement.clientWidth ? `scrollWidth ${document.documentElement.scrollWidth} > ${document.documentElement.clientWidth}; ` + [...document.querySelectorAll('body *')].map(e => [e, e.getBoundingClientRect()]).filter(([e, r]) => r.right > document.documentElement.clientWidth).map(([e, r]) => e.tagName + '.' + e.className + ':' + Math.round(r.right)).join(', ') : ''"));
    }

    [Fact]
    public async Task AOneOffIsATaskHeldUntilItsTimeAndABadCronIsShownAsItsProblem()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var page = await browser.NewPageAsync(service);
        await page.SignInAsync(worker.Account);
        await page.GotoAsync($"/projects/{worker.ProjectId}/schedules");

        await page.GetByLabel("Cron expression", new() { Exact = true }).FillAsync("every tuesday");
        await page.GetByLabel("Title").FillAsync("never saved");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create schedule" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("cron");

        await page.GetByLabel("Once, at a time").CheckAsync();
        await page.GetByLabel("At", new() { Exact = true }).FillAsync(DateTime.Now.AddDays(2).ToString("yyyy-MM-ddTHH:mm", System.Globalization.CultureInfo.InvariantCulture));
        await page.GetByLabel("Title").FillAsync("quarterly report");
        await page.GetByRole(AriaRole.Button, new() { Name = "Schedule the task" }).ClickAsync();
        await page.GetByRole(AriaRole.Link, new() { Name = "quarterly report" }).ClickAsync();

        await Assertions.Expect(page.Locator(".waiting")).ToContainTextAsync("Scheduled");
    }

    [Fact]
    public async Task TheNodesPageShowsTheLeaderAndEachNodesHeartbeat()
    {
        var admin = await service.CreateUserAsync(Roles.Admin);
        var page = await browser.NewPageAsync(service);
        await page.SignInAsync(admin);

        await page.GetByRole(AriaRole.Link, new() { Name = "Nodes" }).ClickAsync();

        await Assertions.Expect(page.Locator(".leader-summary")).ToContainTextAsync("Leader:", new() { Timeout = 20_000 });
        var leaderRow = page.Locator("tr[data-node-id]", new() { Has = page.Locator(".badge.leader") });
        await Assertions.Expect(leaderRow).ToHaveCountAsync(1);
        await Assertions.Expect(leaderRow.Locator(".status")).ToHaveTextAsync("alive");
        await Assertions.Expect(leaderRow).ToContainTextAsync(" s ago");
        await page.CheckPageAsync("nodes");
    }

    [Fact]
    public async Task AnAdminCreatesAUserAndSeesTheSetPasswordTokenOnceAndItWorks()
    {
        var admin = await service.CreateUserAsync(Roles.Admin);
        var email = $"new-{Guid.NewGuid():N}@example.test";
        var page = await browser.NewPageAsync(service);
        await page.SignInAsync(admin);
        await page.GetByRole(AriaRole.Link, new() { Name = "Users" }).ClickAsync();

        await page.GetByLabel("Email").FillAsync(email);
        await page.GetByLabel("Display name").FillAsync("Grace Hopper");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create user" }).ClickAsync();

        var secret = page.Locator(".secret");
        await Assertions.Expect(secret).ToContainTextAsync($"Set-password token for {email}");
        var token = await secret.Locator(".secret-value").InnerTextAsync();
        await Assertions.Expect(page.Locator($"tr[data-user-id]", new() { HasText = email })).ToBeVisibleAsync();
        await page.CheckPageAsync("users-created");

        await page.GetByRole(AriaRole.Button, new() { Name = "I have copied it" }).ClickAsync();
        await Assertions.Expect(secret).ToHaveCountAsync(0);
        await page.ReloadAsync();
        await Assertions.Expect(page.Locator($"tr[data-user-id]", new() { HasText = email })).ToBeVisibleAsync();
        Assert.DoesNotContain(token, await page.ContentAsync());

        using var client = service.CreateClient();
        using var redeemed = await client.PostAsync("/api/v1/auth/password-tokens/redeem",
            TestJson.Body(("token", token), ("new_password", "a brand new long password")));
        Assert.True(redeemed.IsSuccessStatusCode, await redeemed.Content.ReadAsStringAsync());
        await client.LoginAsync(email, "a brand new long password");
    }

    [Fact]
    public async Task AnAdminDisablesEnablesAndDeletesAUserOnlyAfterConfirming()
    {
        var admin = await service.CreateUserAsync(Roles.Admin);
        var user = await service.CreateUserAsync();
        var page = await browser.NewPageAsync(service);
        await page.SignInAsync(admin);
        await page.GotoAsync("/admin/users");
        var row = page.Locator($"tr[data-user-id='{user.Id}']");

        await row.GetByRole(AriaRole.Button, new() { Name = $"Disable {user.Email}" }).ClickAsync();
        await Assertions.Expect(row.Locator(".user-state")).ToHaveTextAsync("disabled");
        Assert.True(await service.ScalarAsync<bool>("SELECT disabled FROM users WHERE id = $1", user.Id));
        await row.GetByRole(AriaRole.Button, new() { Name = $"Enable {user.Email}" }).ClickAsync();
        await Assertions.Expect(row.Locator(".user-state")).ToHaveTextAsync("active");

        await row.GetByRole(AriaRole.Button, new() { Name = "Delete" }).ClickAsync();
        await row.GetByRole(AriaRole.Button, new() { Name = "No" }).ClickAsync();
        await Assertions.Expect(row).ToBeVisibleAsync();
        await row.GetByRole(AriaRole.Button, new() { Name = "Delete" }).ClickAsync();
        await Assertions.Expect(row.GetByRole(AriaRole.Group)).ToContainTextAsync("cannot be undone");
        await page.CheckPageAsync("users-confirm-delete");
        await row.GetByRole(AriaRole.Button, new() { Name = "Yes, delete" }).ClickAsync();

        await Assertions.Expect(page.Locator("tr[data-user-id]", new() { HasText = user.Email })).ToHaveCountAsync(0);
    }

    [Fact]
    public async Task AMemberSeesAdminsOnlyOnEveryAdminPageAndNoAdminLinks()
    {
        var member = await service.CreateUserAsync();
        var page = await browser.NewPageAsync(service);
        await page.SignInAsync(member);
        await Assertions.Expect(page.GetByRole(AriaRole.Navigation).GetByRole(AriaRole.Link)).ToHaveTextAsync(["Projects", "Dead letters", "API keys"]);

        foreach (var (path, title) in new[] { ("/admin/users", "Users"), ("/admin/audit", "Audit log"), ("/nodes", "Nodes") })
        {
            await page.GotoAsync(path);
            await page.GetByRole(AriaRole.Heading, new() { Name = title, Exact = true }).WaitForAsync();
            await Assertions.Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("Admins only.");
            await Assertions.Expect(page.Locator("table")).ToHaveCountAsync(0);
        }
        await page.CheckPageAsync("admins-only");
    }

    [Fact]
    public async Task AnApiKeyIsShownOnceWorksAndStopsWorkingWhenRevoked()
    {
        var member = await service.CreateUserAsync();
        var page = await browser.NewPageAsync(service);
        await page.SignInAsync(member);
        await page.GetByRole(AriaRole.Link, new() { Name = "API keys" }).ClickAsync();

        await page.GetByLabel("Name", new() { Exact = true }).FillAsync("nightly worker");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create key" }).ClickAsync();
        var key = await page.Locator(".secret .secret-value").InnerTextAsync();
        var row = page.Locator("tr[data-key-id]", new() { HasText = "nightly worker" });
        await Assertions.Expect(row.Locator(".key-state")).ToHaveTextAsync("active");
        await page.CheckPageAsync("api-keys");
        using (var client = service.CreateClient().WithApiKey(key))
        using (var me = await client.GetAsync("/api/v1/users/me"))
            Assert.Equal(HttpStatusCode.OK, me.StatusCode);

        await page.GetByRole(AriaRole.Button, new() { Name = "I have copied it" }).ClickAsync();
        await row.GetByRole(AriaRole.Button, new() { Name = "Revoke" }).ClickAsync();
        await row.GetByRole(AriaRole.Button, new() { Name = "Yes, revoke" }).ClickAsync();

        await Assertions.Expect(row.Locator(".key-state")).ToContainTextAsync("revoked");
        using (var client = service.CreateClient().WithApiKey(key))
        using (var me = await client.GetAsync("/api/v1/users/me"))
            Assert.Equal(HttpStatusCode.Unauthorized, me.StatusCode);
    }

    [Fact]
    public async Task TheAuditLogIsFilteredByActionThroughTheAddressAndPagedByCursor()
    {
        var admin = await service.CreateUserAsync(Roles.Admin);
        using var client = await service.ClientForAsync(admin);
        for (var index = 0; index < 52; index++)
        {
            using var created = await client.PostAsync("/api/v1/projects", TestJson.Body(("name", $"audited {index}")));
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }
        // The newest entry is of another action, so the unfiltered first page is told apart from the filtered one.
        using (var user = await client.PostAsync("/api/v1/users", TestJson.Body(("email", $"audited-{Guid.NewGuid():N}@example.test"), ("display_name", "Audited"))))
            Assert.Equal(HttpStatusCode.Created, user.StatusCode);
        var page = await browser.NewPageAsync(service);
        await page.SignInAsync(admin);
        await page.GetByRole(AriaRole.Link, new() { Name = "Audit log" }).ClickAsync();

        await page.GetByLabel("Action", new() { Exact = true }).FillAsync("project.create");
        await page.GetByLabel("Actor user id").FillAsync(admin.Id.ToString());
        await page.GetByRole(AriaRole.Button, new() { Name = "Filter" }).ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("action=project.create", StringComparison.Ordinal));
        var actions = page.Locator("tbody tr td:nth-child(2)");
        await Assertions.Expect(actions.First).ToHaveTextAsync("project.create");
        await Assertions.Expect(actions).ToHaveCountAsync(50);
        await page.CheckPageAsync("audit-log");

        await page.GetByRole(AriaRole.Button, new() { Name = "Older entries" }).ClickAsync();
        await Assertions.Expect(actions).ToHaveCountAsync(52);
        Assert.All(await actions.AllInnerTextsAsync(), action => Assert.Equal("project.create", action));
        await Assertions.Expect(page.GetByRole(AriaRole.Button, new() { Name = "Older entries" })).ToHaveCountAsync(0);

        await page.GetByLabel("From").FillAsync("2001-01-01T00:00");
        await page.GetByLabel("Until").FillAsync("2001-01-02T00:00");
        await page.GetByRole(AriaRole.Button, new() { Name = "Filter" }).ClickAsync();
        await Assertions.Expect(page.GetByText("No entries match.")).ToBeVisibleAsync();
    }

    [Fact]
    public async Task ASecondPersonViewingTheSameTaskAppearsAsAnAvatarOnTheFirstAndLeaves()
    {
        var first = await service.CreateUserAsync();
        var second = await service.CreateUserAsync();
        await service.ScalarAsync<int>("WITH renamed AS (UPDATE users SET display_name = 'Ada Lovelace' WHERE id = $1 RETURNING 1) SELECT count(*)::int FROM renamed", second.Id);
        var projectId = await service.CreateProjectAsync(first, (second, "editor"));
        using var client = await service.ClientForAsync(first);
        using var created = await client.PostAsync("/api/v1/tasks", TestJson.Body(("project_id", projectId), ("title", "looked at together")));
        var taskId = (await created.ReadJsonAsync()).GetProperty("id").GetString();

        var watcher = await browser.NewPageAsync(service);
        await watcher.SignInAsync(first);
        await watcher.GotoAsync($"/projects/{projectId}");
        var online = watcher.GetByRole(AriaRole.List, new() { Name = "Online in this project" });
        await Assertions.Expect(online.GetByRole(AriaRole.Img)).ToHaveCountAsync(1, new() { Timeout = 20_000 });
        await watcher.GotoAsync($"/tasks/{taskId}");
        var viewers = watcher.GetByRole(AriaRole.List, new() { Name = "Viewing this task" });
        await Assertions.Expect(viewers.GetByRole(AriaRole.Img)).ToHaveCountAsync(1, new() { Timeout = 20_000 });

        var visitor = await browser.NewPageAsync(service);
        await visitor.SignInAsync(second);
        await visitor.GotoAsync($"/tasks/{taskId}");

        var avatar = viewers.GetByRole(AriaRole.Img, new() { Name = "Ada Lovelace" });
        await Assertions.Expect(avatar).ToHaveTextAsync("AL", Patiently);
        await watcher.CheckPageAsync("task-presence");

        await visitor.Context.CloseAsync();
        await Assertions.Expect(avatar).ToHaveCountAsync(0, new() { Timeout = 20_000 });
    }
}
