using System.Collections.Concurrent;
using System.Diagnostics;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using RoutingDataSource.Testing;
using static RoutingDataSource.Tests.Infrastructure.TestDataSources;

namespace RoutingDataSource.Tests.Diagnostics;

/// <summary><c>AddRoutingDataSourceInstrumentation()</c> of RoutingDataSource.OpenTelemetry, with the OpenTelemetry SDK, on a real cluster.</summary>
public sealed class OpenTelemetryTests
{
    [Fact]
    public async Task Instrumentation_exports_route_activities_and_the_meters_instruments()
    {
        var activities = new ConcurrentQueue<Activity>();
        var metrics = new ConcurrentDictionary<string, bool>();
        using var tracing = Sdk.CreateTracerProviderBuilder()
            .AddRoutingDataSourceInstrumentation()
            .AddProcessor(new Collect(activities))
            .Build();
        using var meters = Sdk.CreateMeterProviderBuilder()
            .AddRoutingDataSourceInstrumentation()
            .AddReader(new BaseExportingMetricReader(new CollectMetrics(metrics)))
            .Build();

        await using var cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 1 });
        var b = new PgRoutingDataSourceBuilder();
        b.AddBackend("n0", cluster.Primary.ConnectionString, 0);
        b.AddBackend("n1", cluster.Node("n1").ConnectionString, 1);
        await using var ds = b.Build();
        await WarmUpAsync(ds);
        await using (var conn = await ds.OpenConnectionAsync())
        {
            await ScalarAsync(conn, "SELECT 1");
            await NonQueryAsync(conn, "CREATE TEMP TABLE IF NOT EXISTS otel_probe (id int)");
        }
        meters.ForceFlush();

        var routes = activities.Where(a => a.OperationName == "route").ToList();
        Assert.Contains(routes, a => (string?)a.GetTagItem("routing.backend") == "n1" && (string?)a.GetTagItem("routing.role") == "standby");
        Assert.Contains(routes, a => (string?)a.GetTagItem("routing.backend") == "n0" && (string?)a.GetTagItem("routing.role") == "primary");
        Assert.Contains("routing.statements", metrics.Keys);
        Assert.Contains("routing.decision.duration", metrics.Keys);
    }

    private sealed class Collect(ConcurrentQueue<Activity> into) : BaseProcessor<Activity>
    {
        public override void OnEnd(Activity data) => into.Enqueue(data);
    }

    private sealed class CollectMetrics(ConcurrentDictionary<string, bool> into) : BaseExporter<Metric>
    {
        public override ExportResult Export(in Batch<Metric> batch)
        {
            foreach (var metric in batch)
                into[metric.Name] = true;
            return ExportResult.Success;
        }
    }
}
