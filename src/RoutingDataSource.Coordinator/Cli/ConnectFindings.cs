using System.Globalization;
using RoutingDataSource.Coordinator.Decisions;

namespace RoutingDataSource.Coordinator.Cli;

/// <summary>
/// The rules of <c>check --connect</c>: from what each server answered, every problem (the coordinator could not do
/// its job: exit 1) and every warning (it works, but slower or less safe). Pure.
/// </summary>
internal static class ConnectFindings
{
    /// <summary>Parameters the coordinator writes with <c>ALTER SYSTEM</c> (README, "Least privilege").</summary>
    public static readonly string[] AlterSystemParameters = ["primary_conninfo", "primary_slot_name", "synchronous_standby_names"];

    public static (List<string> Problems, List<string> Warnings) Evaluate(IReadOnlyList<ServerFacts> servers)
    {
        var problems = new List<string>();
        var warnings = new List<string>();
        var answered = servers.Where(s => s.Error is null).ToList();
        foreach (var s in servers)
        {
            if (s.Error is not null)
            {
                problems.Add($"{s.Name} ({s.Endpoint}): the coordinator cannot log in or query: {s.Error}");
                continue;
            }
            Privileges(s, problems);
            Settings(s, servers.Count, problems, warnings);
            if (s.ReplicationError is { } re)
            {
                var text = $"{s.Name} ({s.ReplicationEndpoint}): a replication connection made from ReplicationConnInfo failed: {re}";
                if (s.ReplicationPasswordGiven)
                    problems.Add(text + " (standbys repointed to it could not stream)");
                else
                    warnings.Add(text + " (ReplicationConnInfo has no password: if the standbys find it in their own .pgpass, run the check from a standby's host)");
            }
        }

        var primaries = answered.Where(s => !s.InRecovery).ToList();
        if (primaries.Count == 0 && answered.Count > 0)
            problems.Add("no server answered as a primary: " + string.Join(", ", answered.Select(s => s.Name)) + " are all in recovery");
        else if (primaries.Count > 1)
            problems.Add("more than one primary: " + string.Join(", ", primaries.Select(s => s.Name)) + " (two clusters, or a standby promoted by hand?)");
        if (primaries.Count == 1)
            Replication(primaries[0], answered, servers, problems, warnings);
        return (problems, warnings);
    }

    private static void Privileges(ServerFacts s, List<string> problems)
    {
        if (s.Superuser)
            return;
        var missing = new List<string>();
        if (!s.ReplicationAttribute)
            missing.Add("the REPLICATION attribute (to create and drop slots on a new primary): ALTER ROLE ... REPLICATION");
        if (!s.Monitor)
            missing.Add("membership in pg_monitor (pg_stat_replication, pg_stat_wal_receiver): GRANT pg_monitor TO ...");
        if (!s.ExecutePromote)
            missing.Add("EXECUTE on pg_promote(boolean, integer)");
        if (!s.ExecuteReload)
            missing.Add("EXECUTE on pg_reload_conf()");
        if (s.NoAlterSystem.Count > 0)
            missing.Add("ALTER SYSTEM on " + string.Join(", ", s.NoAlterSystem) + ": GRANT ALTER SYSTEM ON PARAMETER ... (PostgreSQL 15+)");
        foreach (var m in missing)
            problems.Add($"{s.Name} ({s.Endpoint}): the coordinator's role lacks {m}");
    }

    private static void Settings(ServerFacts s, int servers, List<string> problems, List<string> warnings)
    {
        var at = $"{s.Name} ({s.Endpoint})";
        if (s.WalLevel is not ("replica" or "logical"))
            problems.Add($"{at}: wal_level is '{s.WalLevel}': streaming replication needs replica or logical");
        // Any server may become the primary: it then serves one WAL sender and one slot per other server.
        if (s.MaxWalSenders < servers - 1)
            problems.Add(string.Create(CultureInfo.InvariantCulture, $"{at}: max_wal_senders is {s.MaxWalSenders}: as the primary it must serve the {servers - 1} other server(s)"));
        if (s.MaxReplicationSlots < servers - 1)
            problems.Add(string.Create(CultureInfo.InvariantCulture, $"{at}: max_replication_slots is {s.MaxReplicationSlots}: as the primary it needs one slot per other server ({servers - 1})"));
        if (s.InRecovery && s.WalReceiverTimeoutMs > 10_000)
            warnings.Add(string.Create(CultureInfo.InvariantCulture, $"{at}: wal_receiver_timeout is {s.WalReceiverTimeoutMs / 1000.0:0.#} s: a frozen primary is only confirmed dead once it has passed (set a few seconds, e.g. '2s')"));
        if (s.WalRetrieveRetryIntervalMs > 5_000)
            warnings.Add(string.Create(CultureInfo.InvariantCulture, $"{at}: wal_retrieve_retry_interval is {s.WalRetrieveRetryIntervalMs / 1000.0:0.#} s: a repointed standby waits that long between attempts (leave it at 5 s or lower)"));
        if (s.MaxSlotWalKeepSizeMb < 0)
            warnings.Add($"{at}: max_slot_wal_keep_size is unlimited: a slot of a standby that stays away holds WAL until the disk is full (set e.g. '50GB')");
    }

    private static void Replication(ServerFacts primary, List<ServerFacts> answered, IReadOnlyList<ServerFacts> all, List<string> problems, List<string> warnings)
    {
        foreach (var s in answered.Where(s => s.InRecovery))
        {
            if (s.ReceiverStatus != "streaming")
            {
                problems.Add($"{s.Name} ({s.Endpoint}): a standby that does not stream ({(s.ReceiverStatus is null ? "no WAL receiver" : "WAL receiver " + s.ReceiverStatus)})");
                continue;
            }
            if (s.SenderPort is { } port && !string.Equals(primary.ReplicationEndpoint, $"{s.SenderHost}:{port.ToString(CultureInfo.InvariantCulture)}", StringComparison.OrdinalIgnoreCase))
                warnings.Add($"{s.Name} ({s.Endpoint}): streams from {s.SenderHost}:{port.ToString(CultureInfo.InvariantCulture)}, not from the primary {primary.Name} at {primary.ReplicationEndpoint} (cascading, or ReplicationHost/ReplicationPort differ): the coordinator repoints it to the primary");
            if (!primary.Streaming.Contains(s.Name, StringComparer.Ordinal))
                warnings.Add($"{s.Name}: no row in {primary.Name}'s pg_stat_replication with application_name '{s.Name}': set application_name={s.Name} in its primary_conninfo (synchronous_standby_names and lag know standbys by it)");
        }
        if (SyncStandbyNames.Parse(primary.SynchronousStandbyNames) is { MatchesAll: false } sync)
        {
            foreach (var name in sync.Names.Where(n => !all.Any(s => string.Equals(s.Name, n, StringComparison.OrdinalIgnoreCase))))
                warnings.Add($"{primary.Name}: synchronous_standby_names names '{name}', which is no configured backend: it counts as a synchronous standby that never answers when the coordinator proves a candidate holds every acknowledged commit");
        }
    }
}
