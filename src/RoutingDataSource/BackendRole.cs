namespace RoutingDataSource;

/// <summary>The role a backend server plays in the replication cluster, as last observed.</summary>
public enum BackendRole
{
    /// <summary>Not known yet, or the server did not answer the last probes.</summary>
    Unknown,

    /// <summary>Not in recovery: accepts writes.</summary>
    Primary,

    /// <summary>A hot standby in recovery: serves reads only.</summary>
    Standby,
}
