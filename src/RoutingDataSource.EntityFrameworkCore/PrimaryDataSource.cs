using System.Data.Common;
using Npgsql;

namespace RoutingDataSource.EntityFrameworkCore;

/// <summary>
/// What the Npgsql provider is configured with: a data source whose connections are real
/// <see cref="NpgsqlConnection"/>s on the current primary, so everything the provider does with its connection
/// (transactions, migrations, casts to Npgsql types) works unchanged. Statements outside a transaction never run on it:
/// <see cref="RoutingInterceptor"/> routes them.
/// </summary>
internal sealed class PrimaryDataSource(PgRoutingDataSource routing) : DbDataSource
{
    public PgRoutingDataSource Routing { get; } = routing;

    /// <summary>The current primary, else (no primary known now) the first backend: nothing is opened here.</summary>
    public Topology.Backend Backend => Routing.Monitor.Current.Primary?.Backend ?? Routing.Backends[0];

    /// <summary>The primary's connection string as Npgsql shows it (no password), for the provider's admin connection.</summary>
    public override string ConnectionString => Backend.Pool.ConnectionString;

    protected override DbConnection CreateDbConnection() => Backend.Pool.CreateConnection();
}
