namespace RoutingDataSource;

/// <summary>Whether a backend takes traffic (the state column of <see cref="BackendStatus"/>).</summary>
public enum BackendState
{
    /// <summary>Answers health checks and may take traffic for its role.</summary>
    Up,

    /// <summary>Failed <see cref="RoutingOptions.HealthCheckMaxRetries"/> consecutive health checks (or never answered). Takes no traffic until it answers again.</summary>
    Down,

    /// <summary>Taken out of rotation by <see cref="PgRoutingDataSource.DetachBackend"/>. Still probed, takes no traffic until attached.</summary>
    Detached,

    /// <summary>
    /// Claims to be a primary on a timeline lower than the highest timeline seen in the cluster (an old primary that
    /// came back after a failover). Takes no traffic: writing to it would fork history (split brain).
    /// </summary>
    Fenced,
}
