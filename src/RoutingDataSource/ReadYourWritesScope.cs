namespace RoutingDataSource;

/// <summary>Which earlier writes a read must see (<see cref="RoutingOptions.ReadYourWrites"/>).</summary>
public enum ReadYourWritesScope
{
    /// <summary>No guarantee: reads go to any eligible standby, even one that has not replayed a write just made.</summary>
    None,

    /// <summary>
    /// A read sees every write committed earlier on the same logical connection (the default). Other connections
    /// are unaffected and may still read from a lagging standby.
    /// </summary>
    Connection,

    /// <summary>A read sees every write committed through this data source, by any connection, before the read started.</summary>
    DataSource,
}
