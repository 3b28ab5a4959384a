using RoutingDataSource.Coordinator.Actions;
using RoutingDataSource.Coordinator.Decisions;
using RoutingDataSource.Coordinator.Diagnostics;
using RoutingDataSource.Topology;

namespace RoutingDataSource.Coordinator.Cluster;

/// <summary>The immutable <see cref="ClusterView"/> the API serves, rebuilt after every round and every change.</summary>
internal sealed partial class FailoverCoordinator
{
    private ClusterView Publish()
    {
        ClusterView view;
        lock (_publish)
        {
            view = BuildView();
            _view = view;
        }
        Interlocked.Exchange(ref _nextView, NewViewSignal()).TrySetResult(view);
        return view;
    }

    private ClusterView BuildView()
    {
        var s = _snapshot;
        var members = new MemberView[Members.Length];
        foreach (var m in Members)
        {
            var n = s.Nodes[m.Index];
            var o = n.LastObservation;
            members[m.Index] = new MemberView(
                m.Name,
                m.Host,
                m.Port,
                n.Role switch { BackendRole.Primary => MemberRole.Primary, BackendRole.Standby => MemberRole.Standby, _ => MemberRole.Unknown },
                m.Detached ? MemberState.Detached : StateOf(n.State),
                n.Timeline,
                FormatLsn(n.Role == BackendRole.Primary ? o?.CurrentLsn : n.ReplayLsn),
                n.LagBytes,
                m.Priority,
                n.Role == BackendRole.Standby ? FormatLsn(o?.CurrentLsn) : null,
                n.SyncState,
                n.WalReceiverStatus,
                s.Version > 0 ? n.LastStatusChange : null,
                n.State == BackendState.Up && n.LastProbeOk ? null : n.LastError ?? n.Reason,
                _rejoins.Report(m.Name));
        }
        var primary = s.Primary;
        return new ClusterView(primary?.Backend.Name, primary?.Timeline ?? s.HighestTimeline, members, _decision, _lastFailover,
            Interlocked.Read(ref _rounds), s.Version > 0 ? s.TakenAt : null);
    }

    private static string? FormatLsn(ulong? lsn) => lsn is null ? null : Lsn.Format(lsn);

    private static MemberState StateOf(BackendState state) => state switch
    {
        BackendState.Up => MemberState.Up,
        BackendState.Down => MemberState.Down,
        BackendState.Detached => MemberState.Detached,
        _ => MemberState.Fenced,
    };

    /// <summary>As the API and the log write it.</summary>
    internal static string NameOf(MemberState state) => state switch
    {
        MemberState.Up => "up",
        MemberState.Down => "down",
        MemberState.Detached => "detached",
        _ => "fenced",
    };

    /// <summary>As the API writes it.</summary>
    internal static string NameOf(MemberRole role) => role switch
    {
        MemberRole.Primary => "primary",
        MemberRole.Standby => "standby",
        _ => "unknown",
    };

    private static TaskCompletionSource<ClusterView> NewViewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
