using RoutingDataSource.Topology;

namespace RoutingDataSource;

// Entry points for integrations that run statements on physical connections of their own (the EF Core package runs
// transactions on its context's connection) but share this logical connection's read-your-writes state.
public sealed partial class RoutingConnection
{
    /// <summary>A write committed outside the routed path (an EF Core transaction on the primary) counts as this session's write.</summary>
    internal void NoteWriteCommitted() => MarkWrite(commitLsn: 0); // its position comes from the next probe sample

    /// <summary>The standby a read of this session may use now (lag limits, read-your-writes, tokens), else the primary.</summary>
    internal ValueTask<NodeState> SelectReadNodeAsync(CancellationToken cancellationToken)
        => _dataSource.Selector.ReadNodeAsync(_session, guard: null, cancellationToken);
}
