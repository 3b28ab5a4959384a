using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using RoutingDataSource.Coordinator.Cluster;
using RoutingDataSource.Coordinator.Tests.Infrastructure;
using Xunit.Abstractions;

namespace RoutingDataSource.Coordinator.Tests.Api;

/// <summary>The HTTP API in-process, on a real cluster: status codes, JSON shapes, bearer token, detach/attach.</summary>
public sealed class ApiTests(ITestOutputHelper output)
{
    private static async Task<(HttpStatusCode, JsonElement)> SendAsync(HttpClient http, HttpMethod method, string path, string? body = null, string? token = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null || method == HttpMethod.Post)
            request.Content = new StringContent(body ?? "{}", Encoding.UTF8, "application/json");
        if (token is not null)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    [Fact]
    public async Task Endpoints_answer_with_the_documented_shapes_and_status_codes()
    {
        await using var c = await CoordinatedCluster.StartAsync(output, configure: (o, _) => o.ApiToken = "s3cret");
        var http = c.Http;

        var (code, cluster) = await SendAsync(http, HttpMethod.Get, "cluster");
        output.WriteLine(cluster.ToString());
        Assert.Equal(HttpStatusCode.OK, code);
        Assert.Equal("n0", cluster.GetProperty("primary").GetString());
        Assert.Equal(1, cluster.GetProperty("timeline").GetInt32());
        var members = cluster.GetProperty("members").EnumerateArray().ToArray();
        Assert.Equal(["n0", "n1", "n2"], members.Select(m => m.GetProperty("name").GetString()));
        foreach (var m in members)
        {
            foreach (var field in new[] { "name", "host", "port", "role", "state", "timeline", "lsn", "lagBytes" })
                Assert.True(m.TryGetProperty(field, out _), $"member without {field}: {m}");
        }
        Assert.Equal("primary", members[0].GetProperty("role").GetString());
        Assert.Equal("standby", members[1].GetProperty("role").GetString());
        Assert.Equal("up", members[1].GetProperty("state").GetString());
        Assert.Equal(c.Cluster.Node("n1").Port, members[1].GetProperty("port").GetInt32());
        // Alone, this coordinator is the one that decides: the leader, and the only coordinator.
        Assert.Equal(c.Options.Name, cluster.GetProperty("leader").GetString());
        var coordinator = Assert.Single(cluster.GetProperty("coordinators").EnumerateArray());
        Assert.Equal(c.Options.Name, coordinator.GetProperty("name").GetString());
        Assert.Equal(c.Host!.Address.Authority, coordinator.GetProperty("http").GetString());
        Assert.True(coordinator.GetProperty("leader").GetBoolean());
        Assert.Equal(JsonValueKind.Null, cluster.GetProperty("ha").ValueKind);
        Assert.True(c.Logging.Contains("it is the cluster's single point of decision"), "no warning that a coordinator alone is a single point of decision");

        (code, var health) = await SendAsync(http, HttpMethod.Get, "health");
        Assert.Equal(HttpStatusCode.OK, code);
        Assert.Equal("ok", health.GetProperty("status").GetString());

        (code, var primary) = await SendAsync(http, HttpMethod.Get, "primary");
        Assert.Equal(HttpStatusCode.OK, code);
        Assert.Equal("n0", primary.GetProperty("name").GetString());
        Assert.Equal(c.Cluster.Primary.Port, primary.GetProperty("port").GetInt32());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await SendAsync(http, HttpMethod.Get, "primary?name=n1")).Item1);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(http, HttpMethod.Get, "primary?name=n0")).Item1);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(http, HttpMethod.Options, "primary")).Item1);

        Assert.Equal(HttpStatusCode.OK, (await SendAsync(http, HttpMethod.Get, "replica?name=n1")).Item1);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(http, HttpMethod.Get, "replica?name=n1&lag=1048576")).Item1);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await SendAsync(http, HttpMethod.Get, "replica?name=n0")).Item1);
        (code, var error) = await SendAsync(http, HttpMethod.Get, "replica");
        Assert.Equal(HttpStatusCode.BadRequest, code);
        Assert.Contains("name", error.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(http, HttpMethod.Get, "replica?name=n1&lag=lots")).Item1);
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(http, HttpMethod.Get, "replica?name=zz")).Item1);

        // Mutations need the token; bad bodies get 400 with a JSON error.
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(http, HttpMethod.Post, "failover", """{"candidate":"n1"}""")).Item1);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(http, HttpMethod.Post, "failover", """{"candidate":"n1"}""", "wrong")).Item1);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(http, HttpMethod.Post, "members/n1/detach")).Item1);
        (code, error) = await SendAsync(http, HttpMethod.Post, "failover", "{not json", "s3cret");
        Assert.Equal(HttpStatusCode.BadRequest, code);
        Assert.True(error.TryGetProperty("error", out _));
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(http, HttpMethod.Post, "failover", "{}", "s3cret")).Item1);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(http, HttpMethod.Post, "failover", """{"candidate":"zz"}""", "s3cret")).Item1);
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(http, HttpMethod.Post, "failover", """{"candidate":"n0"}""", "s3cret")).Item1);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(http, HttpMethod.Post, "members/zz/detach", null, "s3cret")).Item1);
        Assert.Equal(HttpStatusCode.Conflict, (await SendAsync(http, HttpMethod.Post, "members/n0/detach", null, "s3cret")).Item1);

        (code, var detached) = await SendAsync(http, HttpMethod.Post, "members/n1/detach", null, "s3cret");
        Assert.Equal(HttpStatusCode.OK, code);
        Assert.Equal("detached", detached.GetProperty("state").GetString());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await SendAsync(http, HttpMethod.Get, "replica?name=n1")).Item1);
        (code, error) = await SendAsync(http, HttpMethod.Post, "failover", """{"candidate":"n1"}""", "s3cret");
        Assert.Equal(HttpStatusCode.BadRequest, code);
        Assert.Contains("detached", error.GetProperty("error").GetString(), StringComparison.Ordinal);
        (code, var attached) = await SendAsync(http, HttpMethod.Post, "members/n1/attach", null, "s3cret");
        Assert.Equal(HttpStatusCode.OK, code);
        Assert.Equal("up", attached.GetProperty("state").GetString());
        Assert.Equal(MemberState.Up, (await c.GetClusterAsync()).Find("n1")!.State);
    }

    [Fact]
    public async Task Detached_standby_is_not_promoted_and_manual_failover_moves_the_primary_without_losing_a_commit()
    {
        await using var c = await CoordinatedCluster.StartAsync(output, new RoutingDataSource.Testing.LocalPgClusterOptions { Standbys = 2, SynchronousReplication = true });
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(c.Http, HttpMethod.Post, "members/n1/detach")).Item1);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await c.Cluster.Primary.StopAsync(immediate: true);
        var (promoted, _) = await c.WaitForWritableAsync(clock, c.Cluster.Primary, TimeSpan.FromSeconds(20), id: 1);
        Assert.Equal("n2", promoted.Name);
        await CoordinatedCluster.WaitForStreamingAsync(promoted, c.Cluster.Node("n1"), TimeSpan.FromSeconds(15));
        Assert.Equal(MemberState.Detached, (await c.GetClusterAsync()).Find("n1")!.State);

        // Back: manual failover (a switchover, n2 is alive) to n1 once attached.
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(c.Http, HttpMethod.Post, "members/n1/attach")).Item1);
        await promoted.ExecuteAsync("INSERT INTO t SELECT g FROM generate_series(100, 199) g");
        var (code, body) = await SendAsync(c.Http, HttpMethod.Post, "failover", """{"candidate":"n1"}""");
        output.WriteLine(body.ToString());
        Assert.Equal(HttpStatusCode.OK, code);
        Assert.Equal("n1", body.GetProperty("primary").GetString());
        Assert.Equal("n2", body.GetProperty("previous").GetString());
        Assert.Equal(3, body.GetProperty("timeline").GetInt32());
        Assert.Equal(101L, await c.Cluster.Node("n1").ScalarAsync<long>("SELECT count(*) FROM t"));
        var view = await c.WaitForViewAsync(v => v.Primary == "n1" && v.Find("n2")!.State == MemberState.Fenced, TimeSpan.FromSeconds(10), "n1 primary, n2 fenced");
        Assert.Equal(3, view.Timeline);
    }

    [Fact]
    public async Task Posts_need_a_json_content_type_and_a_loopback_host_header()
    {
        // No server needed: these are refused before the coordinator is asked anything.
        var options = new CoordinatorOptions { ReplicationConnInfo = CoordinatedCluster.ReplicationConnInfo, Http = "127.0.0.1:0" };
        options.Backends.Add(new CoordinatorBackend { Name = "n0", ConnectionString = "Host=127.0.0.1;Port=1" });
        options.Backends.Add(new CoordinatorBackend { Name = "n1", ConnectionString = "Host=127.0.0.1;Port=2" });
        await using var host = await CoordinatorHost.StartAsync(options);
        using var http = new HttpClient { BaseAddress = host.Address };

        async Task<HttpStatusCode> PostAsync(string path, HttpContent? content, string? hostHeader = null)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
            if (hostHeader is not null)
                request.Headers.Host = hostHeader;
            using var response = await http.SendAsync(request);
            return response.StatusCode;
        }

        // A page in a browser can send a "simple" cross-origin POST (text/plain, form) without a preflight.
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, await PostAsync("failover", new StringContent("""{"candidate":"n1"}""", Encoding.UTF8, "text/plain")));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, await PostAsync("members/n1/detach", new FormUrlEncodedContent([])));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, await PostAsync("members/n1/detach", null));
        // DNS rebinding: a name that resolves to 127.0.0.1 but is not a loopback name.
        Assert.Equal(HttpStatusCode.BadRequest, await PostAsync("members/n1/detach", new StringContent("{}", Encoding.UTF8, "application/json"), "evil.example:8008"));

        Assert.Equal(HttpStatusCode.OK, await PostAsync("members/n1/detach", new StringContent("{}", Encoding.UTF8, "application/json")));
        Assert.Equal(HttpStatusCode.OK, await PostAsync("members/n1/attach", new StringContent("{}", Encoding.UTF8, "application/json"), $"localhost:{host.Address.Port}"));

        // The CLI sends what the API asks for.
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        Assert.Equal(0, await RoutingDataSource.Coordinator.Cli.CommandLine.RunAsync(["detach", "n1", "--url", host.Address.ToString()], stdout, stderr));
        Assert.Equal(MemberState.Detached, host.Coordinator.View.Find("n1")!.State);
    }
}
