using System.Globalization;
using System.Text;
using Npgsql;
using Npgsql.Replication;
using RoutingDataSource.Coordinator.Configuration;
using RoutingDataSource.Topology;

namespace RoutingDataSource.Coordinator.Cli;

/// <summary>
/// <c>routing-coordinator check --config F --connect</c>: logs in to every server as the coordinator would, and reads
/// its role, the coordinator's privileges and the replication settings failover relies on; a replication connection
/// made from <c>ReplicationConnInfo</c> is tried on each. Every finding is printed at once (<see cref="ConnectFindings"/>).
/// Changes nothing on any server.
/// </summary>
internal static class ConnectCheck
{
    /// <summary>The <c>application_name</c> of the check's replication connections (never a standby's name).</summary>
    public const string ApplicationName = "routing-coordinator-check";

    private const string FactsSql = """
        SELECT pg_is_in_recovery(), current_setting('server_version_num')::int, r.rolsuper, r.rolreplication,
               pg_has_role(current_user, 'pg_monitor', 'USAGE'),
               has_function_privilege('pg_promote(boolean, integer)', 'EXECUTE'),
               has_function_privilege('pg_reload_conf()', 'EXECUTE'),
               current_setting('wal_level'), current_setting('max_wal_senders')::int, current_setting('max_replication_slots')::int,
               current_setting('synchronous_standby_names'),
               (SELECT setting::int FROM pg_settings WHERE name = 'wal_receiver_timeout'),
               (SELECT setting::int FROM pg_settings WHERE name = 'wal_retrieve_retry_interval'),
               (SELECT setting::bigint FROM pg_settings WHERE name = 'max_slot_wal_keep_size'),
               w.status, w.sender_host, w.sender_port
        FROM pg_roles r LEFT JOIN pg_stat_wal_receiver w ON true
        WHERE r.rolname = current_user
        """;

    /// <summary>Prints what each server answered and every problem and warning; 0 when there is no problem, else 1.</summary>
    public static async Task<int> RunAsync(CoordinatorOptions options, TextWriter output, CancellationToken ct)
    {
        var servers = await Task.WhenAll(options.Backends.Select(b => InspectAsync(b, options, ct))).ConfigureAwait(false);
        foreach (var s in servers)
            output.WriteLine(Summary(s));
        var (problems, warnings) = ConnectFindings.Evaluate(servers);
        if (warnings.Count > 0)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{warnings.Count} warning(s):"));
            foreach (var w in warnings)
                output.WriteLine("  - " + w);
        }
        if (problems.Count == 0)
        {
            output.WriteLine("servers OK");
            return 0;
        }
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{problems.Count} problem(s):"));
        foreach (var p in problems)
            output.WriteLine("  - " + p);
        return 1;
    }

    private static string Summary(ServerFacts s)
    {
        if (s.Error is not null)
            return $"{s.Name} ({s.Endpoint}): cannot log in";
        var role = s.InRecovery ? $"standby ({s.ReceiverStatus ?? "no WAL receiver"}{(s.SenderPort is { } p ? $" from {s.SenderHost}:{p.ToString(CultureInfo.InvariantCulture)}" : "")})" : "primary";
        return string.Create(CultureInfo.InvariantCulture, $"{s.Name} ({s.Endpoint}): {role}, PostgreSQL {s.VersionNum / 10000}.{s.VersionNum % 10000}, logged in{(s.Superuser ? " as a superuser" : "")}");
    }

    private static async Task<ServerFacts> InspectAsync(CoordinatorBackend backend, CoordinatorOptions options, CancellationToken ct)
    {
        var csb = new NpgsqlConnectionStringBuilder(backend.ConnectionString) { Pooling = false };
        csb.Timeout = Math.Max(csb.Timeout, (int)Math.Ceiling(options.ProbeTimeout.TotalSeconds));
        csb.CommandTimeout = 10;
        var endpoint = $"{csb.Host}:{csb.Port.ToString(CultureInfo.InvariantCulture)}";
        var replicationHost = backend.ReplicationHost ?? csb.Host!;
        var replicationPort = backend.ReplicationPort ?? csb.Port;
        var facts = new ServerFacts(backend.Name, endpoint, $"{replicationHost}:{replicationPort.ToString(CultureInfo.InvariantCulture)}");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(csb.Timeout + csb.CommandTimeout + 5));
        try
        {
            facts = await ReadFactsAsync(csb.ConnectionString, facts, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is NpgsqlException or IOException or System.Net.Sockets.SocketException or TimeoutException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            return facts with { Error = Explain(e) };
        }
        var conninfo = ReplicationConnInfo.Render(options.ReplicationConnInfo!, replicationHost, replicationPort, ApplicationName);
        var (replication, password) = ReplicationConnectionString(conninfo, csb.Timeout);
        try
        {
            await using var rc = new PhysicalReplicationConnection(replication);
            await rc.Open(timeout.Token).ConfigureAwait(false);
            await rc.IdentifySystem(timeout.Token).ConfigureAwait(false);
            return facts with { ReplicationPasswordGiven = password };
        }
        catch (Exception e) when (e is NpgsqlException or IOException or System.Net.Sockets.SocketException or TimeoutException or ArgumentException
            or OperationCanceledException && !ct.IsCancellationRequested)
        {
            return facts with { ReplicationError = Explain(e), ReplicationPasswordGiven = password };
        }
    }

    private static async Task<ServerFacts> ReadFactsAsync(string connectionString, ServerFacts facts, CancellationToken ct)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync(ct).ConfigureAwait(false);
        await using (var cmd = new NpgsqlCommand(FactsSql, conn))
        await using (var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            if (!await r.ReadAsync(ct).ConfigureAwait(false))
                return facts with { Error = "the role it logs in as is not in pg_roles" };
            facts = facts with
            {
                InRecovery = r.GetBoolean(0),
                VersionNum = r.GetInt32(1),
                Superuser = r.GetBoolean(2),
                ReplicationAttribute = r.GetBoolean(3),
                Monitor = r.GetBoolean(4),
                ExecutePromote = r.GetBoolean(5),
                ExecuteReload = r.GetBoolean(6),
                WalLevel = r.GetString(7),
                MaxWalSenders = r.GetInt32(8),
                MaxReplicationSlots = r.GetInt32(9),
                SynchronousStandbyNames = r.GetString(10),
                WalReceiverTimeoutMs = r.GetInt32(11),
                WalRetrieveRetryIntervalMs = r.GetInt32(12),
                MaxSlotWalKeepSizeMb = r.GetInt64(13),
                ReceiverStatus = r.IsDBNull(14) ? null : r.GetString(14),
                SenderHost = r.IsDBNull(15) ? null : r.GetString(15),
                SenderPort = r.IsDBNull(16) ? null : r.GetInt32(16),
            };
        }
        facts = facts with { NoAlterSystem = facts.Superuser ? [] : await NoAlterSystemAsync(conn, facts.VersionNum, ct).ConfigureAwait(false) };
        if (facts.InRecovery)
            return facts;
        var names = new List<string>();
        await using (var cmd = new NpgsqlCommand("SELECT application_name FROM pg_stat_replication", conn))
        await using (var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            while (await r.ReadAsync(ct).ConfigureAwait(false))
                names.Add(r.IsDBNull(0) ? "" : r.GetString(0));
        }
        return facts with { Streaming = names };
    }

    // Before PostgreSQL 15 only a superuser may ALTER SYSTEM.
    private static async Task<IReadOnlyList<string>> NoAlterSystemAsync(NpgsqlConnection conn, int versionNum, CancellationToken ct)
    {
        if (versionNum < 150000)
            return ConnectFindings.AlterSystemParameters;
        await using var cmd = new NpgsqlCommand("SELECT p FROM unnest($1::text[]) p WHERE NOT has_parameter_privilege(p, 'ALTER SYSTEM')", conn)
        {
            Parameters = { new NpgsqlParameter { Value = ConnectFindings.AlterSystemParameters } },
        };
        var missing = new List<string>();
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
            missing.Add(r.GetString(0));
        return missing;
    }

    private static string Explain(Exception e)
        => (e is OperationCanceledException ? "timed out" : BackendProbe.Describe(e))
           + (PermanentConnectionError.Advice(e) is { } advice ? $" ({advice})" : "");

    /// <summary>
    /// An Npgsql connection string from a libpq conninfo (<c>host=... port=... user=... application_name=...</c>): the
    /// keywords Npgsql knows; the rest (keepalives, options...) is left out. Also whether it holds a password.
    /// </summary>
    internal static (string ConnectionString, bool HasPassword) ReplicationConnectionString(string conninfo, int timeoutSeconds)
    {
        var csb = new NpgsqlConnectionStringBuilder { Timeout = timeoutSeconds, Pooling = false };
        var password = false;
        foreach (var (key, value) in LibpqPairs(conninfo))
        {
            switch (key)
            {
                case "host" or "hostaddr": csb.Host = value; break;
                case "port": csb.Port = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "user": csb.Username = value; break;
                case "password": csb.Password = value; password = true; break;
                case "dbname": csb.Database = value; break;
                case "application_name": csb.ApplicationName = value; break;
                case "sslmode": csb.SslMode = Enum.Parse<SslMode>(value.Replace("-", "", StringComparison.Ordinal), ignoreCase: true); break;
                case "connect_timeout": csb.Timeout = Math.Max(1, int.Parse(value, CultureInfo.InvariantCulture)); break;
            }
        }
        return (csb.ConnectionString, password);
    }

    // key = value pairs separated by whitespace; a value may be single-quoted, with \' and \\ inside (libpq's rules).
    private static IEnumerable<(string Key, string Value)> LibpqPairs(string conninfo)
    {
        var i = 0;
        while (true)
        {
            while (i < conninfo.Length && char.IsWhiteSpace(conninfo[i]))
                i++;
            if (i >= conninfo.Length)
                yield break;
            var eq = conninfo.IndexOf('=', i);
            if (eq < 0)
                throw new ArgumentException($"ReplicationConnInfo: '{conninfo[i..]}' is not key=value");
            var key = conninfo[i..eq].Trim();
            i = eq + 1;
            while (i < conninfo.Length && char.IsWhiteSpace(conninfo[i]))
                i++;
            var value = new StringBuilder();
            if (i < conninfo.Length && conninfo[i] == '\'')
            {
                for (i++; i < conninfo.Length && conninfo[i] != '\''; i++)
                {
                    if (conninfo[i] == '\\' && i + 1 < conninfo.Length)
                        i++;
                    value.Append(conninfo[i]);
                }
                i++;
            }
            else
            {
                for (; i < conninfo.Length && !char.IsWhiteSpace(conninfo[i]); i++)
                    value.Append(conninfo[i]);
            }
            yield return (key, value.ToString());
        }
    }
}
