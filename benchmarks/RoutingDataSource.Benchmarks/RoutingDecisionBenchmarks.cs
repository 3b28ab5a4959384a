using BenchmarkDotNet.Attributes;
using Npgsql;
using RoutingDataSource.Classification;
using RoutingDataSource.Routing;
using RoutingDataSource.Topology;

namespace RoutingDataSource.Benchmarks;

/// <summary>
/// The in-memory part of routing one statement, without I/O: classify (cached), resolve function volatility, pick a
/// standby from a snapshot, work out the read-your-writes requirement. Must allocate nothing.
/// </summary>
[MemoryDiagnoser]
public class RoutingDecisionBenchmarks
{
    private const string Sql = "SELECT a.id, lower(a.name) FROM accounts a JOIN branches b ON b.id = a.branch WHERE a.id = $1";
    private SqlClassifier _classifier = null!;
    private Router _router = null!;
    private WeightedRoundRobinBalancer _balancer = null!;
    private ClusterSnapshot _snapshot = null!;
    private Backend[] _backends = null!;

    [GlobalSetup]
    public void Setup()
    {
        _classifier = new SqlClassifier();
        var volatility = new FunctionVolatilityCache(["lower"], [], Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, TimeProvider.System);
        _router = new Router(volatility, new UnloggedRelationCache(Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, TimeProvider.System));
        _balancer = new WeightedRoundRobinBalancer();
        _backends = Enumerable.Range(0, 3).Select(i => new Backend(i, "n" + i, "127.0.0.1", 5432 + i, i == 0 ? 0 : 1,
            NpgsqlDataSource.Create("Host=127.0.0.1;Port=1"), NpgsqlDataSource.Create("Host=127.0.0.1;Port=1"))).ToArray();
        var at = DateTimeOffset.UtcNow;
        BackendObservation[] obs =
        [
            new() { Reachable = true, InRecovery = false, CurrentLsn = 1000, ReplayLsn = 1000, InsertLsn = 1000, Timeline = 1, At = at },
            new() { Reachable = true, InRecovery = true, CurrentLsn = 1000, ReplayLsn = 1000, Timeline = 1, At = at },
            new() { Reachable = true, InRecovery = true, CurrentLsn = 1000, ReplayLsn = 900, Timeline = 1, At = at },
        ];
        _snapshot = SnapshotBuilder.Build(ClusterSnapshot.Initial(_backends), obs, new bool[_backends.Length], new RoutingOptions(), at, 10);
        _classifier.Classify(Sql);
    }

    [Benchmark]
    public int ClassifyRoutePick()
    {
        var c = _classifier.Classify(Sql);
        var route = _router.Route(c);
        if (!route.StandbyAllowed)
            return _snapshot.Primary!.Backend.Index;
        var minimum = ReadRequirement.MinimumLsn(_snapshot, ReadYourWritesScope.Connection, 5, 0, 0, 0, 0, 0);
        return _balancer.Pick(_snapshot, minimum)?.Backend.Index ?? -1;
    }
}
