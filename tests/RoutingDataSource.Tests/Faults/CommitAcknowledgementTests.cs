using RoutingDataSource.Testing;
using static RoutingDataSource.Tests.Infrastructure.TestDataSources;

namespace RoutingDataSource.Tests.Faults;

/// <summary>
/// Under synchronous replication a commit is acknowledged only once a synchronous standby has it. PostgreSQL ends a
/// commit's synchronous wait early when the statement is cancelled, and then reports success with a WARNING
/// ("canceling wait for synchronous replication ... already committed locally"): such a commit may be lost at the next
/// failover, so the library must never call it an acknowledgement, and must never cut a COMMIT short itself.
/// </summary>
[Collection("faults")]
public sealed class CommitAcknowledgementTests(FaultClusterFixture fixture)
{
    private LocalPgCluster Cluster => fixture.Cluster;

    private static long _nextId = 1000;

    private static long NextId() => Interlocked.Increment(ref _nextId);

    // Backends whose statements time out after one second (Npgsql then cancels, which ends a synchronous wait early).
    private Task<PgRoutingDataSource> ShortTimeoutDataSourceAsync()
    {
        var b = new PgRoutingDataSourceBuilder();
        foreach (var n in Cluster.Nodes)
            b.AddBackend(n.Name, n.ConnectionStringWith(c => c.CommandTimeout = 1), ReferenceEquals(n, Cluster.Primary) ? 0 : 1);
        b.Options.HealthCheckInterval = TimeSpan.FromMilliseconds(250);
        b.Options.FailoverTimeout = TimeSpan.FromSeconds(10);
        var ds = b.Build();
        return WarmUpAsync(ds).ContinueWith(_ => ds, TaskScheduler.Default);
    }

    private async Task<bool> CommittedOnPrimaryAsync(long id)
        => await Cluster.Primary.ScalarAsync<long>($"SELECT count(*) FROM acks WHERE id = {id}") == 1;

    /// <summary>
    /// Runs <paramref name="write"/> (on a data source whose statements time out after 1 s, with a fresh id for the
    /// acks table) while every commit waits for a synchronous standby that never comes. It must fail with
    /// <c>ConnectionLost</c> and <c>MayHaveCommitted</c>, and it did commit on the primary: that is why it may be lost
    /// at a failover, and why it is not an acknowledgement. With <paramref name="commitStillWaits"/>, the library gave
    /// up without cancelling: the COMMIT still waits on the server.
    /// </summary>
    private async Task<RoutingException> NotAcknowledgedAsync(Func<PgRoutingDataSource, long, Task> write, bool commitStillWaits = false)
    {
        await using var ds = await ShortTimeoutDataSourceAsync();
        var id = NextId();
        RoutingException e;
        await using (await fixture.BlockCommitsAsync())
        {
            e = await Assert.ThrowsAsync<RoutingException>(() => write(ds, id));
            if (commitStillWaits)
                Assert.True(await fixture.SessionsWaitingForSyncRepAsync() >= 1, "the COMMIT was cancelled (its synchronous wait cut short) instead of abandoned");
        }
        Assert.Equal(RoutingFailure.ConnectionLost, e.Failure);
        Assert.True(e.MayHaveCommitted);
        Assert.True(await CommittedOnPrimaryAsync(id), "the write did not commit locally");
        return e;
    }

    [Fact]
    public async Task A_write_whose_synchronous_wait_was_cancelled_is_not_acknowledged()
    {
        var e = await NotAcknowledgedAsync(async (ds, id) =>
        {
            await using var conn = await ds.OpenConnectionAsync();
            await NonQueryAsync(conn, $"INSERT INTO acks VALUES ({id}, 'autocommit')");
        });
        Assert.Equal("n0", e.BackendName);
    }

    [Fact]
    public Task An_insert_returning_whose_synchronous_wait_was_cancelled_at_reader_close_is_not_acknowledged()
        => NotAcknowledgedAsync(async (ds, id) =>
        {
            await using var conn = await ds.OpenConnectionAsync();
            await using var cmd = conn.CreateCommand();
            cmd.CommandText = $"INSERT INTO acks VALUES ({id}, 'returning') RETURNING id";
            await using var reader = await cmd.ExecuteReaderAsync();
            while (await reader.ReadAsync())
                Assert.Equal(id, reader.GetInt64(0));
        });

    [Fact]
    public async Task A_crash_while_a_write_reader_closes_is_reported_as_may_have_committed()
    {
        await using var ds = await CreateAsync(Cluster, b => b.Options.FailoverTimeout = TimeSpan.FromSeconds(2));
        var id = NextId();
        RoutingException e;
        await using (await fixture.BlockCommitsAsync())
        {
            await using var conn = await ds.OpenConnectionAsync();
            await using var cmd = conn.CreateCommand();
            cmd.CommandText = $"INSERT INTO acks VALUES ({id}, 'crash at close') RETURNING id";
            var reader = await cmd.ExecuteReaderAsync();
            Assert.True(await reader.ReadAsync()); // the row comes before the commit, which waits for 'ghost'
            await Cluster.Primary.StopAsync(immediate: true);
            try
            {
                e = await Assert.ThrowsAsync<RoutingException>(() => reader.CloseAsync());
            }
            finally
            {
                await Cluster.Primary.StartAsync();
            }
        }
        Assert.Equal(RoutingFailure.ConnectionLost, e.Failure);
        Assert.True(e.MayHaveCommitted);
        await Cluster.WaitForReplicationAsync();
    }

    [Fact]
    public async Task A_unit_of_work_commit_is_never_cancelled_and_is_given_up_as_may_have_committed()
    {
        await NotAcknowledgedAsync((ds, id) => ds.ExecuteAsync(async (conn, ct) =>
        {
            await using var cmd = conn.CreateCommand();
            cmd.CommandText = $"INSERT INTO acks VALUES ({id}, 'unit')";
            await cmd.ExecuteNonQueryAsync(ct);
        }), commitStillWaits: true);
        Assert.DoesNotContain("canceling wait for synchronous replication", Cluster.Primary.ReadLogTail(200), StringComparison.Ordinal);
    }

    [Fact]
    public Task A_sql_commit_is_never_cancelled_and_is_given_up_as_may_have_committed()
        => NotAcknowledgedAsync(async (ds, id) =>
        {
            await using var conn = await ds.OpenConnectionAsync();
            await NonQueryAsync(conn, "BEGIN");
            await NonQueryAsync(conn, $"INSERT INTO acks VALUES ({id}, 'sql commit')");
            try
            {
                await NonQueryAsync(conn, "COMMIT");
            }
            finally
            {
                // The transaction is over for the connection: its next statement is routed afresh, to a standby.
                Assert.Contains(await ServerPortAsync(conn), new[] { Cluster.Node("n1").Port, Cluster.Node("n2").Port });
            }
        }, commitStillWaits: true);

    [Fact]
    public Task A_commit_through_the_transaction_api_cancelled_by_the_caller_is_not_acknowledged()
        => NotAcknowledgedAsync(async (ds, id) =>
        {
            await using var conn = await ds.OpenConnectionAsync();
            await using var tx = await conn.BeginTransactionAsync();
            await NonQueryAsync(conn, $"INSERT INTO acks VALUES ({id}, 'caller cancels')");
            using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
            try
            {
                await tx.CommitAsync(cts.Token);
            }
            finally
            {
                // The connection stays usable: its next statement runs on a fresh physical connection.
                Assert.Equal(1L, Convert.ToInt64(await ScalarAsync(conn, "SELECT 1::bigint")));
            }
        }, commitStillWaits: true);
}

[Collection("faults")]
public sealed class PhysicalConnectionReuseTests(FaultClusterFixture fixture)
{
    [Fact]
    public async Task A_physical_connection_goes_back_to_its_pool_once_after_a_sql_commit()
    {
        await using var ds = await CreateAsync(fixture.Cluster);
        await using (var conn = await ds.OpenConnectionAsync())
        {
            await NonQueryAsync(conn, "BEGIN");
            await NonQueryAsync(conn, "INSERT INTO acks VALUES (1, 'sql commit') ON CONFLICT (id) DO NOTHING");
            await NonQueryAsync(conn, "COMMIT");
        }
        // The pinned connection was given back when COMMIT ended the transaction; the statement's own release must not
        // give it back a second time (two callers would then share one physical connection).
        var primary = ds.Backends[0];
        var rented = new List<Npgsql.NpgsqlConnection>();
        for (var i = 0; i < 8; i++)
            rented.Add(primary.RentConnection());
        Assert.Equal(rented.Count, rented.Distinct(ReferenceEqualityComparer.Instance).Count());
    }
}
