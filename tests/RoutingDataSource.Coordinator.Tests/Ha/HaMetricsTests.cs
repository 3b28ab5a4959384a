using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using RoutingDataSource.Coordinator.Ha;
using RoutingDataSource.Coordinator.Tests.Infrastructure;
using RoutingDataSource.Testing;
using Xunit.Abstractions;

namespace RoutingDataSource.Coordinator.Tests.Ha;

public sealed class HaMetricsTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Leader_changes_and_lease_renewals_are_measured()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var etcd = await LocalEtcdCluster.StartAsync(new LocalEtcdClusterOptions { Members = 1 }, timeout.Token);
        var prefix = "/test/" + Guid.NewGuid().ToString("N")[..8];
        await using var c1 = new EtcdContender("c1", etcd.Endpoints, prefix, TimeSpan.FromSeconds(3), new TestLogging(output));
        var seen = new ConcurrentQueue<(string Instrument, double Value, bool? Leads)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter == c1.Election.Metrics.Meter)
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) => seen.Enqueue((i.Name, v, Leads(tags))));
        listener.SetMeasurementEventCallback<double>((i, v, tags, _) => seen.Enqueue((i.Name, v, Leads(tags))));
        listener.SetMeasurementEventCallback<int>((i, v, tags, _) => seen.Enqueue((i.Name, v, Leads(tags))));
        listener.Start();

        await c1.StepAsync(timeout.Token);
        await c1.StepAsync(timeout.Token);
        listener.RecordObservableInstruments();
        await c1.Election.ResignAsync(timeout.Token);
        listener.RecordObservableInstruments();

        Assert.Equal([true, false], seen.Where(m => m.Instrument == "coordinator.leader.changes").Select(m => m.Leads));
        Assert.Contains(seen, m => m.Instrument == "coordinator.lease.renew.duration" && m.Value > 0);
        Assert.Equal([1.0, 0.0], seen.Where(m => m.Instrument == "coordinator.leader").Select(m => m.Value));
    }

    private static bool? Leads(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        foreach (var tag in tags)
        {
            if (tag.Key == "coordinator.leads")
                return (bool)tag.Value!;
        }

        return null;
    }
}
