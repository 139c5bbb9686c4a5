using Deque.AxeCore.Commons;
using Deque.AxeCore.Playwright;
using Microsoft.Playwright;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Web;

/// <summary>
/// A real headless Chromium (the distribution's package, installed by scripts/chromium.sh; Playwright never downloads a
/// browser here) driven by Playwright, shared by a test class. Each test opens its own context, so cookies and storage
/// never leak between tests.
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    /// <summary>The browser binary: TASKRUNNER_TEST_CHROMIUM, else where Debian's chromium package puts it.</summary>
    public static string ExecutablePath { get; } =
        Environment.GetEnvironmentVariable("TASKRUNNER_TEST_CHROMIUM") is { Length: > 0 } path ? path : "/usr/lib/chromium/chromium";

    /// <summary>Screenshots of every page the tests visit, kept as test artifacts (artifacts/ is not committed).</summary>
    public static string ScreenshotFolder { get; } = Path.Combine(Repository.Root, "artifacts", "dashboard-screenshots");

    private IPlaywright? playwright;

    public IBrowser Browser { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        if (!File.Exists(ExecutablePath))
            throw new InvalidOperationException($"no Chromium at {ExecutablePath}: run scripts/chromium.sh (or set TASKRUNNER_TEST_CHROMIUM)");
        Directory.CreateDirectory(ScreenshotFolder);
        playwright = await Playwright.CreateAsync();
        Browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ExecutablePath,
            Headless = true,
            // Containers and CI runners give Chromium no user namespaces for its sandbox.
            Args = ["--no-sandbox", "--disable-dev-shm-usage"],
        });
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
            await Browser.DisposeAsync();
        playwright?.Dispose();
    }

    public async Task<IPage> NewPageAsync(ServiceFixture service, int width = 1280)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = service.BaseAddress.ToString(),
            ViewportSize = new ViewportSize { Width = width, Height = 900 },
        });
        context.SetDefaultTimeout(15_000);
        return await context.NewPageAsync();
    }
}

public static class DashboardPages
{
    /// <summary>Signs in through the form, as a person would, and waits for the first page after it.</summary>
    public static async Task SignInAsync(this IPage page, TestAccount account)
    {
        await page.GotoAsync("/");
        await page.SignInFormAsync(account.Email, account.Password);
        await page.GetByRole(AriaRole.Heading, new() { Name = "Projects", Exact = true }).WaitForAsync();
    }

    public static async Task SignInFormAsync(this IPage page, string email, string password)
    {
        await page.GetByLabel("Email").FillAsync(email);
        await page.GetByLabel("Password", new() { Exact = true }).FillAsync(password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
    }

    /// <summary>Saves a full-page screenshot and fails on any serious or critical accessibility violation axe-core finds.</summary>
    public static async Task CheckPageAsync(this IPage page, string name)
    {
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.ScreenshotFolder, name + ".png"), FullPage = true });
        var results = await page.RunAxe();
        var blocking = results.Violations.Where(violation => violation.Impact is "serious" or "critical").ToList();
        Assert.True(blocking.Count == 0, $"{name}: " + string.Join("; ", blocking.Select(Describe)));
    }

    private static string Describe(AxeResultItem violation) =>
        $"{violation.Id} ({violation.Impact}): {violation.Help} at {string.Join(", ", violation.Nodes.Take(3).Select(node => node.Target?.ToString()))}";
}
