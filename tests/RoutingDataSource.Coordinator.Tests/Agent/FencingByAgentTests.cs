using System.Diagnostics;
using Npgsql;
using RoutingDataSource.Coordinator.Cluster;
using RoutingDataSource.Coordinator.Tests.Infrastructure;
using Xunit.Abstractions;

namespace RoutingDataSource.Coordinator.Tests.Agent;

/// <summary>A server that answers as a primary but is not the cluster's: demoted by its agent, else made read-only with its sessions ended.</summary>
public sealed class FencingByAgentTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task An_old_primary_restarted_as_a_primary_is_demoted_by_its_agent_and_streams_from_the_new_primary()
    {
        await using var c = await CoordinatedCluster.StartAsync(output, agents: true);
        var old = c.Cluster.Primary;
        await c.Agents!.KillAsync(old.Name); // so that nothing rejoins it while it is down
        var clock = Stopwatch.StartNew();
        await old.StopAsync(immediate: true);
        var (promoted, _) = await c.WaitForWritableAsync(clock, old, TimeSpan.FromSeconds(30), id: 1);
        await old.StartAsync(); // a primary on the old timeline, writable for whoever reaches it
        await c.WaitForViewAsync(v => v.Find(old.Name)!.State == MemberState.Fenced, Bound, $"{old.Name} fenced");

        await c.Agents.RestartAsync(old);

        var view = await c.WaitForViewAsync(v => v.Find(old.Name)!.Agent is { } a && (a.StartsWith("rewound", StringComparison.Ordinal) || a.Contains("failed", StringComparison.Ordinal)),
            Bound, $"{old.Name} demoted");
        Assert.StartsWith($"rewound: streams from {promoted.Name}", view.Find(old.Name)!.Agent, StringComparison.Ordinal);
        Assert.True(c.Logging.Contains($"{old.Name}: Rejoin ordered from its agent (it answers as a primary on timeline 1 while {promoted.Name} is the cluster's primary on timeline 2)"));
        await CoordinatedCluster.WaitForStreamingAsync(promoted, old, TimeSpan.FromSeconds(30));
        Assert.True(await old.IsInRecoveryAsync());
    }

    [Fact]
    public async Task Without_an_agent_an_old_primary_is_made_read_only_its_sessions_ended_and_the_fence_lifted_once_it_is_a_standby()
    {
        var (c, proxy) = await CoordinatedCluster.StartWithPrimaryBehindProxyAsync(output);
        await using var _ = c;
        await using var __ = proxy;
        var old = c.Cluster.Primary;
        var clock = Stopwatch.StartNew();
        await old.StopAsync(immediate: true);
        var (promoted, _) = await c.WaitForWritableAsync(clock, old, TimeSpan.FromSeconds(30), id: 1);

        // Back as a primary, out of the coordinator's reach for now; a client opens a writable session on it.
        proxy.Blackhole();
        await old.StartAsync();
        await using var client = new NpgsqlConnection(old.ConnectionStringWith(b => b.Pooling = false));
        await client.OpenAsync();
        await using (var write = new NpgsqlCommand("INSERT INTO t VALUES (500)", client))
            await write.ExecuteNonQueryAsync();

        proxy.Heal();
        await c.WaitForViewAsync(_ => c.Logging.Contains($"{old.Name} fenced read-only"), Bound, $"{old.Name} fenced read-only");

        // The session opened before the fence is gone; a new one cannot write.
        await using (var after = new NpgsqlCommand("INSERT INTO t VALUES (501)", client))
            await Assert.ThrowsAnyAsync<NpgsqlException>(() => after.ExecuteNonQueryAsync());
        var refused = await Assert.ThrowsAsync<PostgresException>(() => old.ExecuteAsync("INSERT INTO t VALUES (502)"));
        Assert.Equal(PostgresErrorCodes.ReadOnlySqlTransaction, refused.SqlState);

        // Rejoined by hand (it has no agent), it is a standby again and the coordinator lifts the fence.
        await old.RejoinAsync(promoted);
        await c.WaitForViewAsync(_ => c.Logging.Contains($"{old.Name} is a standby again: default_transaction_read_only reset"), Bound, "fence lifted");
        Assert.Equal("off", await old.ScalarAsync<string>("SELECT setting FROM pg_settings WHERE name = 'default_transaction_read_only'"));
    }
}
