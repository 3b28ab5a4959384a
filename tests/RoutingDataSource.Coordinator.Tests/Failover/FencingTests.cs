using System.Diagnostics;
using RoutingDataSource.Coordinator.Cluster;
using RoutingDataSource.Coordinator.Tests.Infrastructure;
using Xunit.Abstractions;

namespace RoutingDataSource.Coordinator.Tests.Failover;

public sealed class FencingTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rds-coord-hooks-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Hook(string file) => $"/bin/sh -c 'echo \"$@\" >> \"$0\"' {Path.Combine(_dir, file)} {{old_primary}} {{old_host}} {{old_port}} {{new_primary}} {{new_host}} {{new_port}} {{timeline}}";

    [Fact]
    public async Task Restarted_old_primary_is_fenced_gets_no_traffic_and_hooks_receive_their_arguments()
    {
        await using var c = await CoordinatedCluster.StartAsync(output, configure: (o, _) =>
        {
            o.Hooks.OnFailover = Hook("failover.txt");
            o.Hooks.OnFence = Hook("fence.txt");
            o.Hooks.Timeout = TimeSpan.FromSeconds(10);
        });
        var builder = new PgRoutingDataSourceBuilder();
        foreach (var n in c.Cluster.Nodes)
            builder.AddBackend(n.Name, n.ConnectionString, 1);
        builder.Options.HealthCheckInterval = TimeSpan.FromMilliseconds(200);
        builder.Options.FailoverTimeout = TimeSpan.FromSeconds(15);
        await using var ds = builder.Build();
        await ds.RefreshStatusAsync();

        var old = c.Cluster.Primary;
        var clock = Stopwatch.StartNew();
        await old.StopAsync(immediate: true);
        var (promoted, _) = await c.WaitForWritableAsync(clock, old, TimeSpan.FromSeconds(20), id: 1);
        await WriteAndReadAsync(ds, 10, 100);
        var before = ds.GetStatus()[old.Name]!;

        await old.StartAsync(); // back as a primary on timeline 1
        var view = await c.WaitForViewAsync(v => v.Find(old.Name)!.State == MemberState.Fenced, TimeSpan.FromSeconds(10), "old primary fenced");
        Assert.Equal(promoted.Name, view.Primary);
        Assert.Equal(2, view.Timeline);
        Assert.Contains("timeline", view.Find(old.Name)!.Reason, StringComparison.Ordinal);
        using (var replica = await c.Http.GetAsync($"replica?name={old.Name}"))
            Assert.Equal(503, (int)replica.StatusCode);

        await WriteAndReadAsync(ds, 30, 200);
        var after = ds.GetStatus()[old.Name]!;
        Assert.Equal(before.ReadCount, after.ReadCount);
        Assert.Equal(before.WriteCount, after.WriteCount);
        // The coordinator's read-only fence ends the old primary's client sessions, the data source's probe session
        // among them: that probe fails (Down) and the next one sees the old timeline again (Fenced). Never Up.
        var seen = new List<string>();
        for (var round = 0; round < 25 && after.State != BackendState.Fenced; round++)
        {
            Assert.NotEqual(BackendState.Up, after.State);
            seen.Add($"{after.State}: {after.LastError}");
            after = (await ds.RefreshStatusAsync())[old.Name]!;
        }
        output.WriteLine($"data source view of {old.Name} before fenced: {string.Join(" | ", seen)}");
        Assert.True(after.State == BackendState.Fenced, $"the data source never saw {old.Name} fenced: {string.Join(" | ", seen)}");

        var port = (RoutingDataSource.Testing.LocalPgNode n) => n.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var expected = $"{old.Name} 127.0.0.1 {port(old)} {promoted.Name} 127.0.0.1 {port(promoted)} 2";
        Assert.Equal(expected, await ReadHookAsync("failover.txt"));
        Assert.Equal(expected, await ReadHookAsync("fence.txt"));
    }

    private static async Task WriteAndReadAsync(PgRoutingDataSource ds, int count, int firstId)
    {
        for (var i = 0; i < count; i++)
        {
            await using var conn = await ds.OpenConnectionAsync();
            await using var write = conn.CreateCommand();
            write.CommandText = $"INSERT INTO t VALUES ({firstId + i})";
            await write.ExecuteNonQueryAsync();
            await using var read = conn.CreateCommand();
            read.CommandText = "SELECT count(*) FROM t";
            await read.ExecuteScalarAsync();
        }
    }

    private async Task<string> ReadHookAsync(string file)
    {
        var path = Path.Combine(_dir, file);
        for (var i = 0; i < 100 && !File.Exists(path); i++)
            await Task.Delay(100);
        return (await File.ReadAllTextAsync(path)).Trim();
    }
}
