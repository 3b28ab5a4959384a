using System.Diagnostics.Metrics;
using RoutingDataSource.Coordinator.Cluster;
using RoutingDataSource.Coordinator.Ha;

namespace RoutingDataSource.Coordinator.Diagnostics;

/// <summary>
/// The coordinator's failover instruments on the <c>RoutingDataSource.Coordinator</c> meter (beside leader election's
/// <see cref="HaMetrics"/>): one instance per coordinator, disposed with it, tagged with its name.
/// </summary>
internal sealed class CoordinatorMetrics : IDisposable
{
    private readonly Meter _meter;
    private readonly Counter<long> _failovers;
    private readonly Histogram<double> _promote;
    private readonly KeyValuePair<string, object?> _self;

    public CoordinatorMetrics(string name)
    {
        _meter = new Meter(HaMetrics.MeterName, typeof(CoordinatorMetrics).Assembly.GetName().Version?.ToString());
        _self = new KeyValuePair<string, object?>("coordinator.name", name);
        _failovers = _meter.CreateCounter<long>("coordinator.failovers", "{failover}", "Promotions this coordinator made (failovers and switchovers).");
        _promote = _meter.CreateHistogram<double>("coordinator.promote.duration", "s", "From the promotion's start (sync names, catch-up) to pg_promote's success.");
    }

    internal Meter Meter => _meter;

    public void Promoted(OperationKind kind, FailoverTrigger trigger, TimeSpan duration)
    {
        var kindTag = new KeyValuePair<string, object?>("coordinator.operation", kind == OperationKind.Switchover ? "switchover" : "failover");
        var triggerTag = new KeyValuePair<string, object?>("coordinator.trigger", trigger == FailoverTrigger.Manual ? "manual" : "automatic");
        _failovers.Add(1, _self, kindTag, triggerTag);
        _promote.Record(duration.TotalSeconds, _self, kindTag);
    }

    public void Dispose() => _meter.Dispose();
}
