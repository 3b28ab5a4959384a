using System.Collections.Concurrent;
using System.Diagnostics;
using Dapper;
using RoutingDataSource.Tests.Infrastructure;

namespace RoutingDataSource.Tests.Diagnostics;

/// <summary>Npgsql's own activities under a routing connection: each one stopped, each the child of its route activity.</summary>
[Collection("cluster")]
public sealed class NpgsqlActivityTests(ClusterFixture fixture)
{
    [Fact]
    public async Task Every_statement_stops_its_Npgsql_activity_reader_based_ones_included()
    {
        await using var ds = await fixture.CreateDataSourceAsync();
        var started = new ConcurrentQueue<Activity>();
        var stopped = new ConcurrentQueue<Activity>();
        var trace = ActivityTraceId.CreateRandom();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is "RoutingDataSource" or "Npgsql",
            Sample = (ref ActivityCreationOptions<ActivityContext> o) =>
                o.Parent.TraceId == trace ? ActivitySamplingResult.AllDataAndRecorded : ActivitySamplingResult.None,
            ActivityStarted = a => started.Enqueue(a),
            ActivityStopped = a => stopped.Enqueue(a),
        };
        ActivitySource.AddActivityListener(listener);
        using var source = new ActivitySource("RoutingDataSource.Tests.Npgsql");
        using (var root = new Activity("test").SetParentId(trace, ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded).Start())
        {
            await using var conn = await ds.OpenConnectionAsync();
            await TestDataSources.ScalarAsync(conn, "SELECT 1");
            _ = (await conn.QueryAsync<int>("SELECT g FROM generate_series(1, 3) g")).ToList();
            await using (var cmd = conn.CreateCommand())
            {
                cmd.CommandText = "SELECT 2";
                await using var reader = await cmd.ExecuteReaderAsync();
                while (await reader.ReadAsync())
                {
                }
            }
        }

        var npgsqlStarted = started.Where(a => a.Source.Name == "Npgsql" && a.TraceId == trace && !a.OperationName.StartsWith("CONNECT", StringComparison.Ordinal)).ToList();
        var npgsqlStopped = stopped.Where(a => a.Source.Name == "Npgsql" && a.TraceId == trace && !a.OperationName.StartsWith("CONNECT", StringComparison.Ordinal)).ToList();
        Assert.True(npgsqlStarted.Count == 3, string.Join(", ", npgsqlStarted.Select(a => $"{a.OperationName}/{a.DisplayName}/{a.Duration}")));
        Assert.Equal(3, npgsqlStopped.Count);
        var routes = stopped.Where(a => a.Source.Name == "RoutingDataSource" && a.TraceId == trace).ToList();
        foreach (var a in npgsqlStopped)
            Assert.Contains(routes, r => r.SpanId == a.ParentSpanId);
    }

    [Fact]
    public async Task Health_probes_start_no_activity()
    {
        var probes = 0;
        var ports = fixture.Cluster.Nodes.Select(n => n.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToHashSet();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is "Npgsql",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a => // its tags are set after the start
            {
                // Only this collection's cluster: tests of other collections run meanwhile on clusters of their own.
                if (a.TagObjects.Any(t => t.Key.EndsWith("port", StringComparison.Ordinal) && ports.Contains(t.Value?.ToString() ?? "")))
                    Interlocked.Increment(ref probes);
            },
        };
        ActivitySource.AddActivityListener(listener);
        await using var ds = await fixture.CreateDataSourceAsync(b => b.Options.HealthCheckInterval = TimeSpan.FromMilliseconds(100));
        Volatile.Write(ref probes, 0);
        // No statement from here on: every Npgsql activity would be a probe's.
        for (var i = 0; i < 5; i++)
            await ds.RefreshStatusAsync(); // five rounds at least, of three servers each
        await Task.Delay(100); // the last round's activities stop as its probes finish
        Assert.Equal(0, Volatile.Read(ref probes));
    }
}
