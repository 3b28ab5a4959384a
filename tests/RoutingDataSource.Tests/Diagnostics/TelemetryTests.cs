using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using RoutingDataSource.Testing;
using RoutingDataSource.Tests.Infrastructure;
using static RoutingDataSource.Tests.Infrastructure.TestDataSources;

namespace RoutingDataSource.Tests.Diagnostics;

/// <summary>Metrics on the "RoutingDataSource" meter and activities on the "RoutingDataSource" source, on a real cluster.</summary>
public sealed class TelemetryTests
{
    [Fact]
    public async Task Every_instrument_reports()
    {
        var seen = new ConcurrentDictionary<string, List<(double Value, Dictionary<string, object?> Tags)>>();
        Meter? ours = null; // other tests' data sources publish on the same meter name: keep only this one's
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "RoutingDataSource")
                l.EnableMeasurementEvents(instrument);
        };
        void Record(Instrument i, double v, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (!ReferenceEquals(i.Meter, Volatile.Read(ref ours)))
                return;
            var list = seen.GetOrAdd(i.Name, _ => []);
            lock (list)
                list.Add((v, tags.ToArray().ToDictionary(t => t.Key, t => t.Value)));
        }
        listener.SetMeasurementEventCallback<long>((i, v, t, _) => Record(i, v, t));
        listener.SetMeasurementEventCallback<int>((i, v, t, _) => Record(i, v, t));
        listener.SetMeasurementEventCallback<double>((i, v, t, _) => Record(i, v, t));
        listener.Start();

        await using var cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 2 });
        await cluster.Primary.ExecuteAsync("CREATE TABLE t (id int); CREATE FUNCTION w() RETURNS int LANGUAGE sql VOLATILE AS 'INSERT INTO t VALUES (1) RETURNING 1'");
        await cluster.WaitForReplicationAsync();
        await using var proxy = FaultProxy.For(cluster.Node("n2"));
        var b = new PgRoutingDataSourceBuilder();
        b.AddBackend("n0", cluster.Primary.ConnectionString, 0);
        b.AddBackend("n1", cluster.Node("n1").ConnectionString, 1);
        b.AddBackend("n2", cluster.Node("n2").ConnectionStringVia(proxy), 1);
        b.Options.HealthCheckInterval = TimeSpan.FromMilliseconds(250);
        b.Options.HealthCheckMaxRetries = 2;
        b.Options.ReadOnlyFunctions.Add("w");
        await using var ds = b.Build();
        Volatile.Write(ref ours, ds.Metrics.Meter);
        await WarmUpAsync(ds);
        listener.RecordObservableInstruments();                             // lag gauges, while both standbys stream

        await using (var conn = await ds.OpenConnectionAsync())
        {
            for (var i = 0; i < 10; i++)
                await ScalarAsync(conn, "SELECT count(*) FROM t");           // routing.statements (read), decision time
            await ScalarAsync(conn, "SELECT w()");                          // routing.reroutes (sent to a standby, refused)
            await NonQueryAsync(conn, "INSERT INTO t VALUES (2)");          // routing.statements (write)
        }
        proxy.Reject();                                                     // n2 refuses: reads there are retried elsewhere
        await using (var conn = await ds.OpenConnectionAsync())
        {
            for (var i = 0; i < 20; i++)
                await ScalarAsync(conn, "SELECT count(*) FROM t");
        }
        await cluster.Primary.StopAsync(immediate: true);                   // routing.failovers once n1 is promoted
        await cluster.Node("n1").PromoteAsync();
        var status = await ds.RefreshStatusAsync();
        for (var i = 0; i < 100 && status.PrimaryName != "n1"; i++)
            status = await ds.RefreshStatusAsync();
        listener.RecordObservableInstruments();                             // routing.backend.up after the failover

        string[] expected =
        [
            "routing.statements", "routing.reroutes", "routing.retries", "routing.retry.outcomes", "routing.failovers",
            "routing.decision.duration", "routing.backend.up", "routing.replication.lag.bytes", "routing.replication.lag.seconds",
        ];
        foreach (var name in expected)
            Assert.True(seen.ContainsKey(name), $"{name} did not report; reported: {string.Join(", ", seen.Keys)}");
        var statements = seen["routing.statements"];
        Assert.Contains(statements, m => (string?)m.Tags["routing.kind"] == "read" && (string?)m.Tags["routing.role"] == "standby");
        Assert.Contains(statements, m => (string?)m.Tags["routing.kind"] == "write" && (string?)m.Tags["routing.backend"] == "n0");
        Assert.Contains(seen["routing.failovers"], m => (string?)m.Tags["routing.from"] == "n0" && (string?)m.Tags["routing.to"] == "n1");
        Assert.Contains(seen["routing.retries"], m => (string?)m.Tags["routing.backend"] == "n2");
        Assert.Contains(seen["routing.backend.up"], m => (string?)m.Tags["routing.backend"] == "n0" && m.Value == 0);
        Assert.Contains(seen["routing.replication.lag.bytes"], m => (string?)m.Tags["routing.backend"] == "n1" && m.Value >= 0);
    }

    [Fact]
    public async Task Each_statement_gets_an_activity_with_the_routing_decision_and_npgsql_activity_beneath_it()
    {
        var activities = new ConcurrentBag<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is "RoutingDataSource" or "Npgsql",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activities.Add,
        };
        ActivitySource.AddActivityListener(listener);
        await using var cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 1 });
        await using var ds = await TestDataSources.CreateAsync(cluster);
        // The listener is process-wide and other tests run in parallel: look only beneath this test's own root.
        using var root = new Activity("test-root").Start();
        await using (var conn = await ds.OpenConnectionAsync())
            await ScalarAsync(conn, "SELECT 1");
        root.Stop();
        var route = Assert.Single(activities, a => a.Source.Name == "RoutingDataSource" && a.ParentSpanId == root.SpanId);
        Assert.Equal("n1", route.GetTagItem("routing.backend"));
        Assert.Equal("standby", route.GetTagItem("routing.role"));
        Assert.Equal("read", route.GetTagItem("routing.kind"));
        Assert.NotNull(route.GetTagItem("routing.reason"));
        Assert.Contains(activities, a => a.Source.Name == "Npgsql" && a.ParentSpanId == route.SpanId);
    }
}
