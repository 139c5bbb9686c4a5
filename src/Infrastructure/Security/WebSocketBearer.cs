namespace TaskRunner.Infrastructure.Security;

/// <summary>
/// Non-browser WebSocket clients may send their access token as <c>Sec-WebSocket-Protocol: bearer, &lt;token&gt;</c>
/// (a header, so it stays out of URLs and access logs); the server answers with the subprotocol <c>bearer</c>. The JWT
/// scheme reads the token from there when the request carries no Authorization header.
/// </summary>
public static class WebSocketBearer
{
    public const string Subprotocol = "bearer";

    public static bool TryReadToken(HttpRequest request, out string token)
    {
        token = "";
        var offered = request.Headers.SecWebSocketProtocol.ToString().Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (offered.Length != 2 || !string.Equals(offered[0], Subprotocol, StringComparison.OrdinalIgnoreCase))
            return false;
        token = offered[1];
        return true;
    }

    /// <summary>The JWT scheme's hook: the token of the subprotocol, unless an Authorization header already carries one.</summary>
    public static Task ReadTokenAsync(Microsoft.AspNetCore.Authentication.JwtBearer.MessageReceivedContext context)
    {
        if (context.Request.Headers.Authorization.Count == 0 && TryReadToken(context.Request, out var token))
            context.Token = token;
        return Task.CompletedTask;
    }
}
