using System.Globalization;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using RoutingDataSource;
using RoutingDataSource.DependencyInjection;

namespace WebApiSample;

/// <summary>
/// Turns a <see cref="RoutingException"/> (no writable primary during a failover, retries exhausted, a server lost
/// under a write) into a 503 ProblemDetails instead of a 500. <c>Retry-After</c> is sent only when nothing may have
/// committed: after <c>ConnectionLost</c> with <c>MayHaveCommitted</c> a blind retry could write twice, so the client
/// is told so (<c>mayHaveCommitted</c>) and decides. FailoverTimeout comes from the settings the data source was built from. Registered with <c>AddExceptionHandler</c> + <c>UseExceptionHandler</c>.
/// </summary>
internal sealed class RoutingProblems(IOptions<RoutingDataSourceSettings> settings, IProblemDetailsService problems) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext http, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is not RoutingException e)
            return false;
        http.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        if (!e.MayHaveCommitted)
        {
            // By then a coordinator has normally promoted a standby (about 2 s after a crash), or the next request
            // waits out one more FailoverTimeout.
            var seconds = Math.Max(1, (int)Math.Ceiling(settings.Value.Options.FailoverTimeout.TotalSeconds));
            http.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        }
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = http,
            Exception = e,
            ProblemDetails = new ProblemDetails
            {
                Status = StatusCodes.Status503ServiceUnavailable,
                Title = e.MayHaveCommitted ? "The database was lost during the write; it may have committed." : "The database is not available; retry later.",
                Detail = e.Message,
                Extensions =
                {
                    ["failure"] = e.Failure.ToString(),
                    ["mayHaveCommitted"] = e.MayHaveCommitted,
                    ["transient"] = e.IsTransient,
                },
            },
        });
    }
}
