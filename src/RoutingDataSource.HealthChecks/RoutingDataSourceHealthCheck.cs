using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace RoutingDataSource.HealthChecks;

/// <summary>
/// Reports the health of a <see cref="PgRoutingDataSource"/> cluster from the data source's own monitor, without a
/// round trip of its own: <see cref="HealthStatus.Healthy"/> with a writable primary and every standby up and serving
/// reads; <see cref="HealthStatus.Degraded"/> when a standby is down, detached, fenced or lagging past the limits (reads
/// may fall back to the primary), or the primary's last probe failed; the registration's failure status (by default
/// <see cref="HealthStatus.Unhealthy"/>) with no writable primary.
/// </summary>
/// <remarks>
/// Keys of <see cref="HealthCheckResult.Data"/>: <c>primary</c> and <c>timeline</c> (the primary's name and timeline,
/// present only when there is one), <c>problem</c> (why there is no writable primary, when that is so),
/// <c>observedAt</c>, <c>table</c> (the text table of <see cref="ClusterStatus.ToString"/>) and <c>backends</c>: one
/// dictionary per backend with <c>name</c>, <c>host</c>, <c>port</c>, <c>role</c>, <c>state</c>, <c>timeline</c>,
/// <c>weight</c>, <c>servesReads</c>, <c>lagBytes</c>, <c>lagSeconds</c>, <c>reads</c>, <c>writes</c>, <c>reason</c> and
/// <c>lastError</c>. <see cref="RoutingHealthResponseWriter"/> writes them as JSON.
/// </remarks>
public sealed class RoutingDataSourceHealthCheck : IHealthCheck
{
    private readonly PgRoutingDataSource _dataSource;

    /// <summary>Creates a health check over <paramref name="dataSource"/> (which it does not own or dispose).</summary>
    public RoutingDataSourceHealthCheck(PgRoutingDataSource dataSource)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        _dataSource = dataSource;
    }

    /// <inheritdoc />
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        var status = _dataSource.GetStatus();
        // Before the monitor's first round every backend reads "not probed yet" and there is no primary: asking for
        // one round (bounded by the registration's timeout) avoids reporting a fresh process as unhealthy.
        if (status.ObservedAt == DateTimeOffset.MinValue)
            status = await _dataSource.RefreshStatusAsync(cancellationToken).ConfigureAwait(false);
        var verdict = ClusterHealth.Evaluate(status);
        var reported = verdict.Status == HealthStatus.Unhealthy ? context.Registration.FailureStatus : verdict.Status;
        return new HealthCheckResult(reported, verdict.Description, data: verdict.Data);
    }
}
