using System.Net;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Users;

public sealed class BootstrapAdminTests(BootstrapAdminTests.WithBootstrapAdmin service) : IClassFixture<BootstrapAdminTests.WithBootstrapAdmin>
{
    public const string Email = "Root@Example.Test";
    public const string Password = "bootstrap admin password";

    public sealed class WithBootstrapAdmin : ServiceFixture
    {
        protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
            base.Settings(connectionString)
                .Append(new("Auth:BootstrapAdminEmail", Email))
                .Append(new("Auth:BootstrapAdminPassword", Password))
                .Append(new("Auth:RegistrationEnabled", "false"));
    }

    [Fact]
    public async Task TheConfiguredAdminCanLogInOnAFreshInstallationWithRegistrationClosed()
    {
        using var client = service.CreateClient();
        HttpResponseMessage? login = null;
        // The account is created in the background once the database answers; give it a moment.
        for (var attempt = 0; attempt < 100; attempt++)
        {
            login?.Dispose();
            login = await client.PostAsync("/api/v1/auth/login", TestJson.Body(("email", Email), ("password", Password)));
            if (login.StatusCode == HttpStatusCode.OK)
                break;
            await Task.Delay(100);
        }
        using var response = login!;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var admin = service.CreateClient().WithBearer((await response.ReadJsonAsync()).GetProperty("access_token").GetString()!);

        using var me = await admin.GetAsync("/api/v1/users/me");

        var user = await me.ReadJsonAsync();
        Assert.Equal("admin", user.GetProperty("role").GetString());
        Assert.Equal(Email.ToLowerInvariant(), user.GetProperty("email").GetString());
    }
}
