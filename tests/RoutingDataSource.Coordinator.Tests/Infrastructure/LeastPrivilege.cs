using RoutingDataSource.Testing;

namespace RoutingDataSource.Coordinator.Tests.Infrastructure;

/// <summary>The non-superuser coordinator role of the README, created on the primary (it replicates to the standbys).</summary>
internal static class LeastPrivilege
{
    public const string Role = "coordinator";

    /// <summary>Exactly the README's SQL.</summary>
    public const string Sql = """
        CREATE ROLE coordinator LOGIN REPLICATION;
        GRANT pg_monitor TO coordinator;
        GRANT EXECUTE ON FUNCTION pg_promote(boolean, integer) TO coordinator;
        GRANT EXECUTE ON FUNCTION pg_reload_conf() TO coordinator;
        GRANT ALTER SYSTEM ON PARAMETER primary_conninfo, primary_slot_name, synchronous_standby_names TO coordinator;
        GRANT ALTER SYSTEM ON PARAMETER default_transaction_read_only TO coordinator;
        GRANT pg_signal_backend TO coordinator;
        GRANT pg_checkpoint TO coordinator;
        """;

    public static async Task CreateAsync(LocalPgCluster cluster)
    {
        await cluster.Primary.ExecuteAsync(Sql);
        await cluster.WaitForReplicationAsync();
    }

    public static string ConnectionString(LocalPgNode node) => node.ConnectionStringWith(b => b.Username = Role);
}
