namespace WebApiSample;

/// <summary>
/// Carries read-your-writes across requests: a write's causality token goes back to the client in a header and a
/// cookie; a later read that presents it is served by a standby only once that standby has replayed the write (else by
/// the primary). Another instance of this API behind a load balancer honors it the same way.
/// </summary>
internal static class CausalityTokens
{
    public const string Header = "X-Causality-Token";
    public const string Cookie = "causality";

    public static void Send(HttpResponse response, string token)
    {
        response.Headers[Header] = token;
        response.Cookies.Append(Cookie, token, new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Lax, MaxAge = TimeSpan.FromMinutes(5) });
    }

    public static string? Received(HttpRequest request)
        => request.Headers[Header].FirstOrDefault() is { Length: > 0 } header ? header : request.Cookies[Cookie];
}
