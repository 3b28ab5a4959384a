using System.Globalization;
using Npgsql;
using RoutingDataSource.Chaos.Cluster;
using RoutingDataSource.Chaos.Workload;
using RoutingDataSource.Testing;

namespace RoutingDataSource.Chaos.Checking;

/// <summary>
/// The end of a soak: every acknowledged write must be on the final primary, nothing reported failed without
/// MayHaveCommitted may be, the money must add up (in total and against the ledger), every total read must have been
/// right, exactly one server may be writable, and every standby must hold what the primary holds. Reads the servers
/// directly, around the proxies.
/// </summary>
internal static class Checker
{
    private static readonly string[] Tables = ["accounts", "ledger", "items"];
    private static readonly Dictionary<string, string> OrderBy = new(StringComparer.Ordinal)
    {
        ["accounts"] = "id",
        ["ledger"] = "transfer_id",
        ["items"] = "id",
    };

    public static async Task<CheckResult> CheckAsync(ChaosCluster cluster, IReadOnlyCollection<Operation> operations, CancellationToken cancellationToken)
    {
        var ops = operations.ToList();
        var writes = ops.Where(o => o.IsWrite).ToList();
        var reads = ops.Where(o => o.Kind == OperationKind.Read && o.Outcome != Outcome.Cancelled).ToList();
        var misuseInOperations = ops.LongCount(o => o.Misuse is not null);
        var byPattern = new Dictionary<string, int>(cluster.ClientLog.Matches, StringComparer.Ordinal);
        foreach (var o in ops.Where(o => o.Misuse is not null))
            byPattern[o.Misuse! + " (operations)"] = byPattern.GetValueOrDefault(o.Misuse! + " (operations)") + 1;
        var result = new CheckResult
        {
            AcknowledgedWrites = writes.LongCount(o => o.Outcome == Outcome.Acknowledged),
            RawWriteErrors = writes.LongCount(o => o.Outcome == Outcome.RawError),
            Reads = reads.Count,
            FailedReads = reads.LongCount(o => o.Outcome != Outcome.Acknowledged),
            WrongTotals = reads.LongCount(o => o.Outcome == Outcome.Acknowledged && o.Total != Bank.Total),
            RerunTransfers = writes.LongCount(o => o.Kind == OperationKind.Transfer && o.Outcome == Outcome.Acknowledged && o.Attempts > 1),
            MayHaveCommitted = writes.LongCount(o => o.MayHaveCommitted),
            MisuseInLog = cluster.ClientLog.Matches.Values.Sum(),
            MisuseInOperations = misuseInOperations,
            MisuseByPattern = byPattern,
        };

        var writable = new List<string>();
        foreach (var node in cluster.Nodes.Where(n => n.IsRunning && !n.IsFrozen))
        {
            if (await TryAsync(() => node.IsInRecoveryAsync(cancellationToken)) is false)
                writable.Add(node.Name);
        }

        result = result with { WritableServers = writable };
        if (writable.Count != 1)
            return result with { Problem = $"{writable.Count} writable servers: the data could not be checked against one primary" };
        var primary = cluster.Nodes.Single(n => n.Name == writable[0]);
        result = result with { FinalPrimary = primary.Name };

        var ledger = await KeysAsync(primary, "SELECT transfer_id FROM ledger", cancellationToken);
        var items = await KeysAsync(primary, "SELECT id FROM items", cancellationToken);
        bool Present(Operation o) => o.Kind == OperationKind.Transfer ? ledger.Contains(o.Key) : items.Contains(o.Key);
        var lost = writes.Where(o => o.Outcome == Outcome.Acknowledged && !Present(o)).ToList();
        var phantoms = writes.Where(o => o.Outcome == Outcome.RoutingError && !o.MayHaveCommitted && Present(o)).ToList();
        var total = await primary.ScalarAsync<decimal?>("SELECT sum(balance) FROM accounts", cancellationToken);
        var mismatches = await primary.ScalarAsync<long>(string.Create(CultureInfo.InvariantCulture, $"""
            SELECT count(*) FROM accounts a
            WHERE a.balance <> {Bank.InitialBalance}
                + coalesce((SELECT sum(amount) FROM ledger WHERE to_id = a.id), 0)
                - coalesce((SELECT sum(amount) FROM ledger WHERE from_id = a.id), 0)
            """), cancellationToken);

        var differences = new List<string>();
        try
        {
            await cluster.Cluster.WaitForReplicationAsync(TimeSpan.FromSeconds(60), cancellationToken);
            foreach (var table in Tables)
            {
                var expected = await DigestAsync(primary, table, cancellationToken);
                foreach (var standby in cluster.Nodes.Where(n => n != primary))
                {
                    var seen = await DigestAsync(standby, table, cancellationToken);
                    if (seen != expected)
                        differences.Add($"{standby.Name}.{table}: {seen} vs {primary.Name}: {expected}");
                }
            }
        }
        catch (Exception e) when (e is TimeoutException or NpgsqlException or InvalidOperationException)
        {
            differences.Add("replicas not compared: " + e.Message.Split('\n')[0]);
        }

        return result with
        {
            Lost = lost.Count,
            Phantoms = phantoms.Count,
            CommittedDespiteRawError = writes.LongCount(o => o.Outcome == Outcome.RawError && Present(o)),
            MayHaveCommittedPresent = writes.LongCount(o => o.MayHaveCommitted && Present(o)),
            FinalTotal = total is { } t ? (long)t : null,
            LedgerMismatches = mismatches,
            ReplicasIdentical = differences.Count == 0,
            ReplicaDifferences = differences,
            LostSamples = lost.Take(20).Select(Sample).ToList(),
            PhantomSamples = phantoms.Take(20).Select(Sample).ToList(),
        };
    }

    /// <summary>
    /// The coordinators' part of the check: one promote request per failover (the servers' logs), never two leaders in
    /// one sample, and in HA mode the leader's durable state in etcd naming the final primary.
    /// </summary>
    public static async Task<CheckResult> CheckCoordinationAsync(ChaosCluster cluster, CheckResult result, IReadOnlyList<Faults.FaultRecord> faults, CancellationToken cancellationToken)
    {
        var coordinators = cluster.Coordinators;
        string? durable = null;
        if (coordinators.IsHa)
        {
            // The leader may still be writing its last step: give the record a few seconds to name the final primary.
            for (var i = 0; i < 50; i++)
            {
                durable = await coordinators.DurablePrimaryAsync(cancellationToken);
                if (durable is not null && durable == result.FinalPrimary)
                    break;
                await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
            }
        }

        return result with
        {
            Coordinators = coordinators.Count,
            Failovers = faults.Count(f => f.Promoted is not null),
            PromoteRequests = cluster.PromoteRequests(),
            LeaderSamples = coordinators.LeaderSamples,
            TwoLeaderSamples = coordinators.TwoLeaderSamples,
            TwoLeaderMoments = [.. coordinators.TwoLeaderMoments],
            LeaderChanges = coordinators.LeaderChanges,
            DurablePrimary = durable,
        };
    }

    private static string Sample(Operation o) => string.Create(CultureInfo.InvariantCulture,
        $"{o.Kind} {o.Key} (worker {o.Worker}, {o.Start:0.000}-{o.End:0.000} s, {o.Attempts} run(s)){(o.Error is { } e ? ": " + e : "")}");

    private static async Task<HashSet<long>> KeysAsync(LocalPgNode node, string sql, CancellationToken cancellationToken)
    {
        var keys = new HashSet<long>();
        await using var conn = new NpgsqlConnection(node.ConnectionStringWith(b => { b.Pooling = false; b.CommandTimeout = 120; }));
        await conn.OpenAsync(cancellationToken);
        await using var cmd = new NpgsqlCommand(sql, conn);
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            keys.Add(reader.GetInt64(0));
        return keys;
    }

    private static async Task<string> DigestAsync(LocalPgNode node, string table, CancellationToken cancellationToken)
    {
        var digest = await node.ScalarAsync<string>(
            $"SELECT count(*) || ' rows, md5 ' || coalesce(md5(string_agg(t::text, ',' ORDER BY {OrderBy[table]})), '-') FROM {table} t", cancellationToken);
        return digest ?? "?";
    }

    private static async Task<bool?> TryAsync(Func<Task<bool>> query)
    {
        try
        {
            return await query();
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            return null;
        }
    }
}
