using RoutingDataSource.Connections;
using RoutingDataSource.Testing;
using static RoutingDataSource.Tests.Infrastructure.TestDataSources;

namespace RoutingDataSource.Tests.Faults;

/// <summary>
/// A statement stuck on a hung (frozen) server is abandoned when the monitor takes the server out of service. What it
/// was running on must never be used again by anyone: not the physical connection, and not the Npgsql command object
/// that is still executing on it.
/// </summary>
[Collection("faults")]
public sealed class AbandonedStatementTests(FaultClusterFixture fixture)
{
    private LocalPgCluster Cluster => fixture.Cluster;

    // Reads go to n1 only (n2 has weight 0); with n1 out of service they fall back to the primary.
    private async Task<PgRoutingDataSource> DataSourceAsync()
    {
        var b = new PgRoutingDataSourceBuilder();
        b.AddBackend("n0", Cluster.Primary.ConnectionString, 0);
        b.AddBackend("n1", Cluster.Node("n1").ConnectionString, 1);
        b.AddBackend("n2", Cluster.Node("n2").ConnectionString, 0);
        b.Options.HealthCheckInterval = TimeSpan.FromMilliseconds(200);
        b.Options.HealthCheckTimeout = TimeSpan.FromMilliseconds(500);
        b.Options.HealthCheckMaxRetries = 1;
        b.Options.FailoverTimeout = TimeSpan.FromSeconds(10);
        var ds = b.Build();
        await WarmUpAsync(ds);
        return ds;
    }

    private static async Task<(int Port, string Backend)> ReadWithAsync(RoutingCommand cmd)
    {
        await using var reader = await cmd.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        return (reader.GetInt32(0), reader.BackendName);
    }

    [Fact]
    public async Task A_read_abandoned_on_a_frozen_standby_is_rerun_elsewhere_with_a_fresh_command()
    {
        await using var ds = await DataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT inet_server_port() WHERE $1 > 0";
        cmd.Parameters.AddWithValue(1);
        var n1 = Cluster.Node("n1");
        Assert.Equal((n1.Port, "n1"), await ReadWithAsync(cmd)); // leaves an idle pooled connection to n1

        await n1.FreezeAsync();
        try
        {
            // Sent to n1, which never answers: abandoned when the monitor takes n1 down, then re-run on the primary.
            Assert.Equal((Cluster.Primary.Port, "n0"), await ReadWithAsync(cmd));
            Assert.Equal((Cluster.Primary.Port, "n0"), await ReadWithAsync(cmd));
            Assert.Equal(Cluster.Primary.Port, Convert.ToInt32(await cmd.ExecuteScalarAsync()));
        }
        finally
        {
            await n1.ThawAsync();
        }

        // The abandoned statement finishes on its own connection now; the command object, re-used all along, is unaffected.
        await WaitUntilAsync(async () => (await ds.RefreshStatusAsync())["n1"]!.ServesReads);
        for (var i = 0; i < 20; i++)
            Assert.Equal((n1.Port, "n1"), await ReadWithAsync(cmd));
        Assert.True(ds.Backend("n1").RetryCount > 0, "the read on frozen n1 was re-run (and counted against n1)");
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        for (var i = 0; i < 100; i++)
        {
            if (await condition())
                return;
            await Task.Delay(100);
        }
        throw new TimeoutException("condition not met in 10 s");
    }
}
