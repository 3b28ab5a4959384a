using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using RoutingDataSource.Testing;

namespace RoutingDataSource.HealthChecks.Tests;

/// <summary>Two keyed data sources over one real cluster, each with its own check, and the JSON that /health writes.</summary>
public sealed class KeyedAndJsonTests
{
    [Fact]
    public async Task Keyed_data_sources_get_their_own_checks_and_the_writer_shows_their_data_as_json()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 1 }, cts.Token);
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddRoutingDataSource("orders", b =>
        {
            foreach (var n in cluster.Nodes)
                b.AddBackend(n.Name, n.ConnectionString, ReferenceEquals(n, cluster.Primary) ? 0 : 1);
            b.Options.HealthCheckInterval = TimeSpan.FromMilliseconds(200);
        });
        services.AddRoutingDataSource("audit", b => b.AddBackend("only-primary", cluster.Primary.ConnectionString));
        services.AddHealthChecks()
            .AddRoutingDataSource(serviceKey: "orders", timeout: TimeSpan.FromSeconds(10))
            .AddRoutingDataSource(name: "audit-db", serviceKey: "audit", timeout: TimeSpan.FromSeconds(10));
        await using var sp = services.BuildServiceProvider();

        Assert.Null(sp.GetService<PgRoutingDataSource>());
        Assert.NotSame(sp.GetRequiredKeyedService<PgRoutingDataSource>("orders"), sp.GetRequiredKeyedService<PgRoutingDataSource>("audit"));
        Assert.Same(sp.GetRequiredKeyedService<PgRoutingDataSource>("orders"), sp.GetRequiredKeyedService<System.Data.Common.DbDataSource>("orders"));

        var report = await sp.GetRequiredService<HealthCheckService>().CheckHealthAsync(cts.Token);
        Assert.Equal(["audit-db", "routing-datasource-orders"], report.Entries.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(HealthStatus.Healthy, report.Entries["routing-datasource-orders"].Status);

        var http = new DefaultHttpContext();
        http.Response.Body = new MemoryStream();
        await RoutingHealthResponseWriter.WriteAsync(http, report);
        Assert.StartsWith("application/json", http.Response.ContentType, StringComparison.Ordinal);
        http.Response.Body.Position = 0;
        using var doc = await JsonDocument.ParseAsync(http.Response.Body, cancellationToken: cts.Token);
        var orders = doc.RootElement.GetProperty("checks").GetProperty("routing-datasource-orders");
        Assert.Equal("Healthy", orders.GetProperty("status").GetString());
        var data = orders.GetProperty("data");
        Assert.Equal("n0", data.GetProperty("primary").GetString());
        Assert.Equal(1, data.GetProperty("timeline").GetInt32());
        Assert.False(data.TryGetProperty("table", out _));
        var members = data.GetProperty("backends").EnumerateArray().ToList();
        Assert.Equal(["n0", "n1"], members.Select(m => m.GetProperty("name").GetString()));
        Assert.Equal(["primary", "standby"], members.Select(m => m.GetProperty("role").GetString()));
        Assert.Equal([cluster.Primary.Port, cluster.Node("n1").Port], members.Select(m => m.GetProperty("port").GetInt32()));
        Assert.All(members, m => Assert.Equal("up", m.GetProperty("state").GetString()));
        Assert.All(members, m => Assert.Equal("127.0.0.1", m.GetProperty("host").GetString()));
        Assert.All(members, m => Assert.Equal(1, m.GetProperty("timeline").GetInt32()));
        Assert.Equal(JsonValueKind.Number, members[1].GetProperty("lagBytes").ValueKind);
        var audit = doc.RootElement.GetProperty("checks").GetProperty("audit-db").GetProperty("data");
        Assert.Equal("only-primary", Assert.Single(audit.GetProperty("backends").EnumerateArray().ToList()).GetProperty("name").GetString());
    }
}
