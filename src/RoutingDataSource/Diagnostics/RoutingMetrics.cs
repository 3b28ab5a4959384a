using System.Diagnostics;
using System.Diagnostics.Metrics;
using RoutingDataSource.Classification;
using RoutingDataSource.Topology;

namespace RoutingDataSource.Diagnostics;

/// <summary>
/// The data source's instruments on the <c>RoutingDataSource</c> meter (names and tags documented in the README,
/// "Metrics"). One instance per data source, disposed with it. Recording allocates nothing: tags go in a
/// <see cref="TagList"/> and tag values are interned strings.
/// </summary>
internal sealed class RoutingMetrics : IDisposable
{
    public const string MeterName = "RoutingDataSource";

    private readonly Meter _meter;
    private readonly Counter<long> _statements;
    private readonly Counter<long> _reroutes;
    private readonly Counter<long> _retries;
    private readonly Counter<long> _retryOutcomes;
    private readonly Counter<long> _failovers;
    private readonly Counter<long> _guards;
    private readonly Histogram<double> _decision;

    public RoutingMetrics(Func<ClusterSnapshot> snapshot)
    {
        _meter = new Meter(MeterName, typeof(RoutingMetrics).Assembly.GetName().Version?.ToString());
        _statements = _meter.CreateCounter<long>("routing.statements", "{statement}", "Statements sent, by backend, role and statement kind.");
        _reroutes = _meter.CreateCounter<long>("routing.reroutes", "{statement}", "Statements a standby refused with 25006 and that were re-run on the primary.");
        _retries = _meter.CreateCounter<long>("routing.retries", "{attempt}", "Transparent retries after a failover-class failure, by the backend that failed.");
        _retryOutcomes = _meter.CreateCounter<long>("routing.retry.outcomes", "{operation}", "How retried operations ended: succeeded or exhausted.");
        _failovers = _meter.CreateCounter<long>("routing.failovers", "{failover}", "Changes of the write target observed by the monitor.");
        _guards = _meter.CreateCounter<long>("routing.ryw.guards", "{statement}",
            "Reads tried on a standby behind a read-your-writes guard, by backend and outcome: passed (ran there) or missed (re-run on the primary).");
        _decision = _meter.CreateHistogram<double>("routing.decision.duration", "s", "Time to choose a backend for a statement (classification, routing, selection; no I/O).");
        _meter.CreateObservableGauge("routing.backend.up", () => Observe(snapshot(), static n => n.State == BackendState.Up ? 1 : 0),
            "{backend}", "1 when the backend is up, 0 when down, detached or fenced.");
        _meter.CreateObservableGauge("routing.replication.lag.bytes", () => ObserveStandbys(snapshot(), static n => n.LagBytes),
            "By", "WAL bytes a standby's replay position is behind the primary.");
        _meter.CreateObservableGauge("routing.replication.lag.seconds", () => ObserveStandbys(snapshot(), static n => n.Lag?.TotalSeconds),
            "s", "A standby's replay lag in time (0 when idle and caught up).");
    }

    public bool DecisionTimingEnabled => _decision.Enabled;

    /// <summary>Whether anything listens to the statement counter (then the caller works out the role to tag it with).</summary>
    public bool StatementsEnabled => _statements.Enabled;

    /// <summary>This data source's meter (tests tell its instruments from other data sources' by it).</summary>
    internal Meter Meter => _meter;

    /// <summary>Counts statements; call only when <see cref="StatementsEnabled"/> (the caller checks it before working out the role).</summary>
    public void Statement(Backend backend, bool onPrimary, StatementKind kind, int count)
    {
        var tags = new TagList
        {
            { "routing.backend", backend.Name },
            { "routing.role", onPrimary ? "primary" : "standby" },
            { "routing.kind", KindName(kind) },
        };
        _statements.Add(count, tags);
    }

    public void Reroute(Backend backend) => _reroutes.Add(1, new KeyValuePair<string, object?>("routing.backend", backend.Name));

    public void Guard(Backend backend, bool passed)
    {
        if (_guards.Enabled)
            _guards.Add(1, new KeyValuePair<string, object?>("routing.backend", backend.Name), new KeyValuePair<string, object?>("routing.outcome", passed ? "passed" : "missed"));
    }

    public void Retry(Backend? backend) => _retries.Add(1, new KeyValuePair<string, object?>("routing.backend", backend?.Name ?? "none"));

    public void RetryOutcome(bool succeeded) => _retryOutcomes.Add(1, new KeyValuePair<string, object?>("routing.outcome", succeeded ? "succeeded" : "exhausted"));

    public void Failover(string? from, string? to)
    {
        var tags = new TagList { { "routing.from", from ?? "none" }, { "routing.to", to ?? "none" } };
        _failovers.Add(1, tags);
    }

    public void Decision(long startTimestamp) => _decision.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds);

    internal static string KindName(StatementKind kind) => kind switch
    {
        StatementKind.Read => "read",
        StatementKind.Write => "write",
        StatementKind.SessionState => "session_state",
        _ => "transaction_control",
    };

    private static IEnumerable<Measurement<int>> Observe(ClusterSnapshot s, Func<NodeState, int> value)
    {
        foreach (var n in s.Nodes)
            yield return new Measurement<int>(value(n), new KeyValuePair<string, object?>("routing.backend", n.Backend.Name));
    }

    private static IEnumerable<Measurement<T>> ObserveStandbys<T>(ClusterSnapshot s, Func<NodeState, T?> value)
        where T : struct
    {
        foreach (var n in s.Nodes)
        {
            if (n.Role == BackendRole.Standby && value(n) is { } v)
                yield return new Measurement<T>(v, new KeyValuePair<string, object?>("routing.backend", n.Backend.Name));
        }
    }

    public void Dispose() => _meter.Dispose();
}
