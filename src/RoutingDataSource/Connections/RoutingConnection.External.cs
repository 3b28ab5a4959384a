using RoutingDataSource.Topology;

namespace RoutingDataSource;

// Entry points for integrations that run statements on physical connections of their own (the EF Core package runs
// transactions on its context's connection) but share this logical connection's read-your-writes state.
public sealed partial class RoutingConnection
{
    /// <summary>
    /// A write committed outside the routed path (an EF Core transaction on the primary) counts as this session's write,
    /// at <paramref name="commitLsn"/> when its COMMIT read it (0: from the next probe sample).
    /// </summary>
    internal void NoteWriteCommitted(ulong commitLsn) => MarkWrite(commitLsn);

    /// <summary>
    /// Whether a write an integration runs through a reader, outside a transaction, on the server just acquired, should
    /// read its commit position in its round trip (see <see cref="Connections.CommitPosition"/>), as
    /// <see cref="WantsCommitPosition"/> decides for the routing command's own writes.
    /// </summary>
    internal bool WantsExternalCommitPosition() => LastAcquireBackend is { } backend && PositionsWritesOn(backend);

    /// <summary>The standby a read of this session may use now (lag limits, read-your-writes, tokens), else the primary.</summary>
    internal ValueTask<NodeState> SelectReadNodeAsync(CancellationToken cancellationToken)
        => _dataSource.Selector.ReadNodeAsync(_session, guard: null, cancellationToken);
}
