using Npgsql;
using RoutingDataSource.Classification;
using RoutingDataSource.Diagnostics;
using RoutingDataSource.Resilience;
using RoutingDataSource.Routing;

namespace RoutingDataSource.Connections;

/// <summary>
/// The retry decisions for one statement execution (a struct living in the caller's async frame: no allocation).
/// A standby that refuses a statement with 25006 outside a transaction gets it re-run on the primary once; a
/// connection-class failure asks the monitor for an immediate re-probe.
/// </summary>
internal struct StatementExecutor(RoutingConnection connection, SqlClassification classification, StatementRoute route)
{
    private int _reroutes;

    public StatementRoute Route { get; private set; } = route;

    public readonly SqlClassification Classification => classification;

    public bool ShouldRetry(Exception e, Lease lease)
    {
        var ds = connection.DataSourceInternal;
        switch (ErrorClassifier.Classify(e))
        {
            case FailureKind.ServerGone:
                Log.ConnectionErrorReprobe(ds.Logger, lease.Backend.Name, e.Message);
                ds.Monitor.RequestProbe();
                return false;
            case FailureKind.ReadOnly when !lease.Pinned && _reroutes == 0 && e is PostgresException:
                _reroutes++;
                lease.Backend.CountReroute();
                var primary = ds.Monitor.Current.Primary;
                if (primary is not null && ReferenceEquals(primary.Backend, lease.Backend))
                {
                    // The "primary" said read-only: it changed role. Nothing ran, so the retry is safe once the
                    // monitor has seen the change.
                    ds.Monitor.RequestProbe();
                    return false;
                }
                Log.Rerouted(ds.Logger, lease.Backend.Name, primary?.Backend.Name);
                Route = Route with { StandbyAllowed = false, Reason = "re-run on the primary after 25006" };
                return true;
            default:
                return false;
        }
    }
}
