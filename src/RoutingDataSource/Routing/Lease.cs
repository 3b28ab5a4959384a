using Npgsql;
using RoutingDataSource.Topology;

namespace RoutingDataSource.Routing;

/// <summary>A physical connection lent to one statement: where it runs, and whether it stays with the session afterwards.</summary>
internal readonly record struct Lease(NpgsqlConnection Connection, Backend Backend, bool Pinned);
