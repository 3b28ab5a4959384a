using RoutingDataSource.Topology;

namespace RoutingDataSource.Routing;

/// <summary>
/// Asked by <see cref="BackendSelector.ReadNodeAsync"/> whether a read may go to a standby that is not known to have
/// replayed what it must see: it then runs there behind a guard that fails, before the read runs, unless the standby's
/// replay position has reached <c>requiredLsn</c>.
/// </summary>
internal interface IReadGuardSink
{
    /// <summary>Whether the read can carry a guard at all (a prepared command, for one, cannot).</summary>
    bool CanGuard { get; }

    /// <summary>Whether the read can carry the guard; when it can, it will run on <paramref name="node"/> behind it.</summary>
    /// <param name="node">The standby the read will try.</param>
    /// <param name="requiredLsn">The position the standby must have replayed.</param>
    /// <param name="writtenAt">When the youngest write the read must see was acknowledged (TimeProvider timestamp).</param>
    /// <param name="exploring">The estimate says it is too early; the read tries anyway to learn (see <see cref="ReplayTracker.Explore"/>).</param>
    bool GuardRead(NodeState node, ulong requiredLsn, long writtenAt, bool exploring);
}
