using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using RoutingDataSource.Testing;
using Xunit.Abstractions;

namespace RoutingDataSource.Samples.Tests;

public sealed class WebApiSampleTests(ITestOutputHelper output)
{
    [Fact]
    public async Task WebApi_sample_reports_health_and_status_and_reads_its_own_write()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        var ct = cts.Token;
        await using var cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 2 }, ct);
        // The sample's appsettings.json names n0 (weight 0), n1, n2: only the connection strings are overridden.
        var environment = new Dictionary<string, string>
        {
            ["RoutingDataSource__HealthCheckInterval"] = "00:00:00.250",
            // Printed only when the test fails: the routing decisions that led there.
            ["Logging__LogLevel__RoutingDataSource"] = "Debug",
        };
        await using var app = await StartOnAsync(cluster, environment, ct);
        try
        {
            using var http = new HttpClient { BaseAddress = app.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };

            using var health = await http.GetAsync("/health", ct);
            var healthJson = await health.Content.ReadAsStringAsync(ct);
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
            using (var doc = JsonDocument.Parse(healthJson))
            {
                Assert.Equal("Healthy", doc.RootElement.GetProperty("status").GetString());
                var check = doc.RootElement.GetProperty("checks").GetProperty("routing-datasource");
                Assert.Equal("n0", check.GetProperty("data").GetProperty("primary").GetString());
                Assert.Equal(3, check.GetProperty("data").GetProperty("backends").GetArrayLength());
            }

            using (var status = JsonDocument.Parse(await http.GetStringAsync("/status", ct)))
            {
                Assert.Equal("n0", status.RootElement.GetProperty("primaryName").GetString());
                var backends = status.RootElement.GetProperty("backends").EnumerateArray().ToList();
                Assert.Equal(["Primary", "Standby", "Standby"], backends.Select(b => b.GetProperty("role").GetString()));
                Assert.Equal(cluster.Primary.Port, backends[0].GetProperty("port").GetInt32());
            }
            var table = await http.GetStringAsync("/status.txt", ct);
            Assert.StartsWith("primary: n0", table, StringComparison.Ordinal);

            // Write, then read with the causality token: the read sees the write at once, whichever server serves it.
            using var post = await http.PostAsJsonAsync("/items", new { name = "kettle" }, ct);
            Assert.Equal(HttpStatusCode.Created, post.StatusCode);
            var token = Assert.Single(post.Headers.GetValues("X-Causality-Token"));
            Assert.StartsWith("c1.", token, StringComparison.Ordinal);
            var created = await post.Content.ReadFromJsonAsync<ItemDto>(ct);
            Assert.Equal("n0", created!.ServedBy);

            using var read = new HttpRequestMessage(HttpMethod.Get, post.Headers.Location);
            read.Headers.Add("X-Causality-Token", token);
            using var got = await http.SendAsync(read, ct);
            Assert.Equal(HttpStatusCode.OK, got.StatusCode);
            var item = await got.Content.ReadFromJsonAsync<ItemDto>(ct);
            Assert.Equal(created.Id, item!.Id);
            Assert.Equal("kettle", item.Name);

            // Once replicated, a read without the token is served by a standby. A client of its own: this one holds
            // the token's cookie, and a read carrying it stays on the primary until the monitor has seen a standby
            // replay the write (its next round), which may be after the replication finished.
            await cluster.WaitForReplicationAsync(cancellationToken: ct);
            using (var fresh = new HttpClient(new HttpClientHandler { UseCookies = false }) { BaseAddress = app.BaseAddress, Timeout = TimeSpan.FromSeconds(30) })
            {
                var plain = await fresh.GetFromJsonAsync<ItemDto>($"/items/{created.Id}", ct);
                Assert.Contains(plain!.ServedBy, new[] { "n1", "n2" });
            }

            // The cookie carries the token to later reads; they move to a standby once the monitor has seen one
            // replay the write (a health round: 250 ms here).
            var servedBy = new List<string?>();
            var until = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (DateTime.UtcNow < until && servedBy.LastOrDefault() is not ("n1" or "n2"))
            {
                servedBy.Add((await http.GetFromJsonAsync<ItemDto>($"/items/{created.Id}", ct))!.ServedBy);
                await Task.Delay(50, ct);
            }
            output.WriteLine($"reads with the cookie served by: {string.Join(", ", servedBy)}");
            Assert.Contains(servedBy[^1], new[] { "n1", "n2" });
            Assert.All(servedBy.SkipLast(1), s => Assert.Equal("n0", s));
        }
        catch
        {
            output.WriteLine(app.Output);
            throw;
        }
    }

    [Fact]
    public async Task WebApi_sample_answers_a_write_without_a_primary_with_503_problem_details_and_retry_after()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        var ct = cts.Token;
        await using var cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 2 }, ct);
        // FailoverTimeout is also how long the sample's start-up DDL may wait for the first probe round: not too short on 2 busy cores.
        await using var app = await StartOnAsync(cluster, new() { ["RoutingDataSource__HealthCheckInterval"] = "250ms", ["RoutingDataSource__FailoverTimeout"] = "3s" }, ct);
        using var http = new HttpClient { BaseAddress = app.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        try
        {
            await cluster.Primary.StopAsync(immediate: true, ct);
            // Once the monitor has seen the primary go, a write waits FailoverTimeout (3 s) for a new one, then gives up.
            while (true)
            {
                using var status = JsonDocument.Parse(await http.GetStringAsync("/status", ct));
                if (status.RootElement.GetProperty("primaryName").ValueKind == JsonValueKind.Null)
                    break;
                await Task.Delay(100, ct);
            }

            using var post = await http.PostAsJsonAsync("/items", new { name = "kettle" }, ct);
            var body = await post.Content.ReadAsStringAsync(ct);
            output.WriteLine(body);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, post.StatusCode);
            Assert.Equal("application/problem+json", post.Content.Headers.ContentType?.MediaType);
            Assert.Equal(TimeSpan.FromSeconds(3), post.Headers.RetryAfter?.Delta);
            using var problem = JsonDocument.Parse(body);
            Assert.Equal(503, problem.RootElement.GetProperty("status").GetInt32());
            Assert.Equal("NoPrimary", problem.RootElement.GetProperty("failure").GetString());
            Assert.False(problem.RootElement.GetProperty("mayHaveCommitted").GetBoolean());
        }
        catch
        {
            output.WriteLine(app.Output);
            throw;
        }
    }

    /// <summary>The sample on <paramref name="cluster"/>: its appsettings.json names n0 (weight 0), n1, n2; only the connection strings are overridden.</summary>
    private static Task<SampleProcess> StartOnAsync(LocalPgCluster cluster, Dictionary<string, string> environment, CancellationToken ct)
    {
        for (var i = 0; i < cluster.Nodes.Count; i++)
            environment[$"RoutingDataSource__Backends__{i}__ConnectionString"] = cluster.Nodes[i].ConnectionString;
        return SampleProcess.StartAsync("WebApi", environment, ct);
    }

    private sealed record ItemDto(long Id, string Name, string? ServedBy);
}
