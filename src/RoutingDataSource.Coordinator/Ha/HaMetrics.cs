using System.Diagnostics.Metrics;

namespace RoutingDataSource.Coordinator.Ha;

/// <summary>
/// Leader election's instruments on the <c>RoutingDataSource.Coordinator</c> meter (same conventions as the library's
/// <c>RoutingMetrics</c>: one instance per election, disposed with it, tags as key-value pairs).
/// </summary>
internal sealed class HaMetrics : IDisposable
{
    public const string MeterName = "RoutingDataSource.Coordinator";

    private readonly Meter _meter;
    private readonly Counter<long> _leaderChanges;
    private readonly Histogram<double> _renew;
    private readonly Counter<long> _renewFailures;

    public HaMetrics(string name, Func<bool> isLeader)
    {
        _meter = new Meter(MeterName, typeof(HaMetrics).Assembly.GetName().Version?.ToString());
        var self = new KeyValuePair<string, object?>("coordinator.name", name);
        _leaderChanges = _meter.CreateCounter<long>("coordinator.leader.changes", "{change}", "Times this coordinator became leader or stopped leading.");
        _renew = _meter.CreateHistogram<double>("coordinator.lease.renew.duration", "s", "Time for one successful renewal of the coordinator's etcd lease.");
        _renewFailures = _meter.CreateCounter<long>("coordinator.lease.renew.failures", "{renewal}", "Renewals of the etcd lease that failed or timed out.");
        _meter.CreateObservableGauge("coordinator.leader", () => new Measurement<int>(isLeader() ? 1 : 0, self), "{leader}", "1 while this coordinator leads, else 0.");
        Self = self;
    }

    /// <summary>This meter (tests tell its instruments from other coordinators' in the same process by it).</summary>
    internal Meter Meter => _meter;

    private KeyValuePair<string, object?> Self { get; }

    public void LeaderChange(bool leads) =>
        _leaderChanges.Add(1, Self, new KeyValuePair<string, object?>("coordinator.leads", leads));

    public void Renewed(TimeSpan duration) => _renew.Record(duration.TotalSeconds, Self);

    public void RenewFailed() => _renewFailures.Add(1, Self);

    public void Dispose() => _meter.Dispose();
}
