using Npgsql;
using RoutingDataSource.Routing;
using RoutingDataSource.Topology;

namespace RoutingDataSource.Tests.Routing;

/// <summary>
/// Weights follow the role (<see cref="RoutingOptions.PrimaryServesReads"/>): which backends take reads by weight, for
/// each mode, each primary and each set of weights, from the snapshot the probes' observations give (no server).
/// </summary>
public sealed class PrimaryReadsTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public static TheoryData<PrimaryReadMode, string, int, string, string> Cases => new()
    {
        // mode, weights of n0 n1 n2, the primary, the backends that do not answer, reads by weight (name:share)
        { PrimaryReadMode.WhenNoStandby, "1 1 2", 0, "", "n1:1 n2:2" },
        { PrimaryReadMode.WhenNoStandby, "1 1 2", 1, "", "n0:1 n2:2" },         // after a failover to n1: n1 stops, n0 takes its weight
        { PrimaryReadMode.WhenNoStandby, "0 1 1", 1, "", "n2:1" },              // the old primary, weight 0, serves no reads as a standby
        { PrimaryReadMode.WhenNoStandby, "1 1 2", 0, "n2", "n1:1" },
        { PrimaryReadMode.WhenNoStandby, "1 1 2", 0, "n1 n2", "" },             // none by weight: the selector falls back to the primary
        { PrimaryReadMode.Never, "1 1 2", 0, "", "n1:1 n2:2" },
        { PrimaryReadMode.Never, "1 1 2", 2, "", "n0:1 n1:1" },
        { PrimaryReadMode.Never, "1 1 2", 0, "n1 n2", "" },                     // none: the selector waits for a standby, never the primary
        { PrimaryReadMode.ByWeight, "1 1 2", 0, "", "n0:1 n1:1 n2:2" },
        { PrimaryReadMode.ByWeight, "1 1 2", 2, "", "n0:1 n1:1 n2:2" },         // the primary keeps its weight whoever it is
        { PrimaryReadMode.ByWeight, "0 1 1", 0, "", "n1:1 n2:1" },              // a primary of weight 0 takes none
        { PrimaryReadMode.ByWeight, "0 1 1", 1, "", "n1:1 n2:1" },              // after a failover n1 takes its weight as the primary
        { PrimaryReadMode.ByWeight, "1 1 2", 0, "n1 n2", "n0:1" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Reads_by_weight_follow_the_role(PrimaryReadMode mode, string weights, int primary, string down, string expected)
    {
        var backends = weights.Split(' ').Select((w, i) => new Backend(i, "n" + i, "127.0.0.1", 1000 + i, int.Parse(w, System.Globalization.CultureInfo.InvariantCulture),
            NpgsqlDataSource.Create("Host=127.0.0.1;Port=1"), NpgsqlDataSource.Create("Host=127.0.0.1;Port=1"))).ToArray();
        try
        {
            var options = new RoutingOptions { PrimaryServesReads = mode };
            var observations = backends.Select(b => down.Split(' ').Contains(b.Name)
                ? BackendObservation.Failed("connection refused", T0)
                : new BackendObservation { Reachable = true, InRecovery = b.Index != primary, CurrentLsn = 500, ReplayLsn = 500, Timeline = 1, At = T0 }).ToArray();
            var snapshot = SnapshotBuilder.Build(ClusterSnapshot.Initial(backends), observations, new bool[backends.Length], options, T0, startedTimestamp: 1);
            Assert.Equal("n" + primary, snapshot.Primary?.Backend.Name);

            var want = expected.Length == 0 ? [] : expected.Split(' ').Select(e => e.Split(':')).ToDictionary(e => e[0], e => int.Parse(e[1], System.Globalization.CultureInfo.InvariantCulture));
            var cycle = want.Values.Sum();
            var balancer = new WeightedRoundRobinBalancer();
            var got = new Dictionary<string, int>();
            for (var i = 0; i < Math.Max(cycle, 1) * 10; i++)
            {
                var name = balancer.Pick(snapshot, minimumLsn: 0)?.Backend.Name ?? "none";
                got[name] = got.GetValueOrDefault(name) + 1;
            }
            Assert.Equal(cycle == 0 ? new Dictionary<string, int> { ["none"] = 10 } : want.ToDictionary(w => w.Key, w => w.Value * 10), got);
            // The status says the same as the balancer does.
            Assert.Equal(want.Keys.Order(), ClusterStatus.From(snapshot).Backends.Where(b => b.ServesReads).Select(b => b.Name).Order());
        }
        finally
        {
            foreach (var b in backends)
                await b.DisposeAsync();
        }
    }
}
