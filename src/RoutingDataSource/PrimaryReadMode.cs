namespace RoutingDataSource;

/// <summary>
/// Whether the current primary serves reads (<see cref="RoutingOptions.PrimaryServesReads"/>). Weights follow the role:
/// a backend's weight applies while it is a standby, so after a failover the new primary stops taking reads by its
/// weight and the old primary, once it is back as a standby, takes them by its own.
/// </summary>
public enum PrimaryReadMode
{
    /// <summary>
    /// Never: a read waits (up to <see cref="RoutingOptions.FailoverTimeout"/>) for an eligible standby, then fails with
    /// <see cref="RoutingFailure.NoStandby"/>. Statements that only the primary can run (writes, pinned sessions,
    /// read-write transactions, a standby's recovery refusals, <c>/* route: primary */</c>) still go there.
    /// </summary>
    Never,

    /// <summary>Only when no standby is eligible (down, lagging, behind the session's writes): the default.</summary>
    WhenNoStandby,

    /// <summary>By its weight, alongside the standbys (and alone when no standby is eligible).</summary>
    ByWeight,
}
