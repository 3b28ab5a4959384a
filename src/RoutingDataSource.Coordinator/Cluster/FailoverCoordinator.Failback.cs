using System.Globalization;
using RoutingDataSource.Coordinator.Decisions;
using RoutingDataSource.Coordinator.Diagnostics;

namespace RoutingDataSource.Coordinator.Cluster;

/// <summary>
/// <see cref="CoordinatorOptions.PreferredPrimary"/>: the leader switches back to the preferred member once it has
/// streamed as a synchronous standby for <see cref="FailbackAfter"/> in a row, through the planned switchover (no
/// acknowledged commit lost, the old primary follows without a rewind), at most once per <see cref="FailbackEvery"/>.
/// </summary>
internal sealed partial class FailoverCoordinator
{
    private static readonly TimeSpan FailbackAfter = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan FailbackEvery = TimeSpan.FromMinutes(1);

    private long _preferredStreamingSince;
    private long _lastFailbackAttempt;
    private int _failingBack;

    private void ConsiderFailback(MemberObservation[] observations)
    {
        if (_options.PreferredPrimary is not { } name || Find(name) is not { } preferred || _primary is not { } p || Find(p) is not { } primary
            || primary == preferred || _verdict is not { Kind: VerdictKind.Healthy } || _ha?.State?.Operation.Value is not null)
        {
            _preferredStreamingSince = 0;
            return;
        }
        var row = observations[primary.Index].Probe.Replication.FirstOrDefault(r => string.Equals(r.ApplicationName, preferred.Name, StringComparison.OrdinalIgnoreCase));
        var sync = SyncStandbyNames.Parse(_primarySync);
        if (row is not { State: "streaming" } || (sync is not null && !sync.Includes(preferred.Name)) || preferred.Detached)
        {
            _preferredStreamingSince = 0;
            return;
        }
        var now = _time.GetTimestamp();
        if (_preferredStreamingSince == 0)
            _preferredStreamingSince = now;
        if (_time.GetElapsedTime(_preferredStreamingSince, now) < FailbackAfter
            || (_lastFailbackAttempt != 0 && _time.GetElapsedTime(_lastFailbackAttempt, now) < FailbackEvery)
            || Interlocked.CompareExchange(ref _failingBack, 1, 0) != 0)
            return;
        _lastFailbackAttempt = now;
        if (primary.Agent is null)
        {
            Log.FailbackRefused(_logger, preferred.Name, $"{primary.Name} has no agent, and a switchover without one leaves it running fenced");
            Volatile.Write(ref _failingBack, 0);
            return;
        }
        Log.FailingBack(_logger, preferred.Name, string.Create(CultureInfo.InvariantCulture,
            $"it has streamed from {primary.Name} for {_time.GetElapsedTime(_preferredStreamingSince, now).TotalSeconds:0} s ({row.SyncState ?? "async"}); PreferredPrimary is {preferred.Name}"));
        // Outside the round: the switchover takes the operation lock, which the round has just released.
        _ = Task.Run(async () =>
        {
            try
            {
                var outcome = await FailoverToAsync(preferred.Name, force: false).ConfigureAwait(false);
                if (outcome.Kind != OutcomeKind.Ok)
                    Log.FailbackRefused(_logger, preferred.Name, outcome.Error!);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                // The coordinator is stopping.
            }
            finally
            {
                Volatile.Write(ref _failingBack, 0);
            }
        });
    }
}
