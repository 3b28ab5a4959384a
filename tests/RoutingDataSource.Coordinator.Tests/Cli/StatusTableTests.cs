using RoutingDataSource.Coordinator.Cli;
using RoutingDataSource.Coordinator.Cluster;
using RoutingDataSource.Coordinator.Ha;

namespace RoutingDataSource.Coordinator.Tests.Cli;

public sealed class StatusTableTests
{
    [Fact]
    public void Renders_one_aligned_row_per_member_with_the_pool_nodes_columns()
    {
        var at = new DateTimeOffset(2026, 5, 1, 12, 0, 0, TimeSpan.Zero);
        var view = new ClusterView("n1", 2,
        [
            new MemberView("n0", "10.0.0.1", 5432, MemberRole.Primary, MemberState.Fenced, 1, "0/3000000", null, 1, null, null, null, at, "primary on timeline 1, lower than timeline 2 seen: fenced"),
            new MemberView("n1", "10.0.0.2", 5432, MemberRole.Primary, MemberState.Up, 2, "0/3000100", 0, 1, null, null, null, at, null),
            new MemberView("n2", "10.0.0.3", 5432, MemberRole.Standby, MemberState.Up, 2, "0/3000100", 0, 0, "0/3000100", "quorum", "streaming", at, null),
        ], "promoted n1", new FailoverRecord("n0", "n1", 2, at, 140, FailoverTrigger.Automatic), 42, at);
        var text = StatusTable.Render(view);
        var lines = text.Split('\n');
        Assert.StartsWith("primary: n1   timeline: 2", lines[0], StringComparison.Ordinal);
        Assert.Matches(@"^name\s+host:port\s+role\s+state\s+timeline\s+lsn\s+lag_bytes\s+sync_state\s+priority\s+last_change\s+reason$", lines[1]);
        Assert.Matches(@"^n0\s+10\.0\.0\.1:5432\s+primary\s+fenced\s+1\s+0/3000000\s+-\s+-\s+1\s+2026-05-01 12:00:00\s+primary on timeline 1", lines[2]);
        Assert.Matches(@"^n2\s+10\.0\.0\.3:5432\s+standby\s+up\s+2\s+0/3000100\s+0\s+quorum\s+0\s+", lines[4]);
        Assert.Equal(lines[1].IndexOf("role", StringComparison.Ordinal), lines[3].IndexOf("primary", StringComparison.Ordinal));
        Assert.Contains("last failover: n0 -> n1 (automatic)", text, StringComparison.Ordinal);
    }

    [Fact]
    public void In_ha_mode_shows_the_coordinators_the_leader_the_lease_and_an_operation_in_progress()
    {
        var at = new DateTimeOffset(2026, 5, 1, 12, 0, 0, TimeSpan.Zero);
        var operation = new OperationRecord(OperationKind.Failover, OperationStep.Repointing, "n0", "n1", 1, at, "c2", 7);
        var view = new ClusterView("n1", 2, [], null, null, 3, at, "c2",
            [new CoordinatorInfo("c1", "10.0.0.21:8008", false), new CoordinatorInfo("c2", "10.0.0.22:8008", true)],
            new HaStatus("ok", true, false, 0x1f, 5, null, null, operation));
        var text = StatusTable.Render(view);
        Assert.Contains("coordinators: c1 10.0.0.21:8008, c2 (leader) 10.0.0.22:8008   leader: c2", text, StringComparison.Ordinal);
        Assert.Contains("etcd: ok   lease: 1f (TTL 5 s), this coordinator follows", text, StringComparison.Ordinal);
        Assert.Contains("operation in progress: Failover n0 -> n1, step Repointing, by c2", text, StringComparison.Ordinal);

        var cut = StatusTable.Render(view with { Leader = null, Coordinators = [], Ha = view.Ha! with { Etcd = "unavailable: no quorum; nobody promotes until it answers", EtcdAvailable = false } });
        Assert.Contains("coordinators: (unknown)   leader: (none)", cut, StringComparison.Ordinal);
        Assert.Contains("etcd: unavailable: no quorum; nobody promotes", cut, StringComparison.Ordinal);
    }
}
