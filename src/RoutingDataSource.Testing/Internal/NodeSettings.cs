using System.Globalization;
using System.Text;

namespace RoutingDataSource.Testing.Internal;

/// <summary>Renders the per-node settings file that the template's postgresql.conf includes.</summary>
internal static class NodeSettings
{
    /// <summary>The settings of <paramref name="node"/>; <paramref name="upstream"/> is the server it streams from, null for the primary.</summary>
    public static string Render(LocalPgClusterOptions options, string socketDirectory, IReadOnlyList<LocalPgNode> nodes, LocalPgNode node, LocalPgNode? upstream)
    {
        var senders = nodes.Count + 10; // room for the library's and the tests' own replication connections
        var text = new StringBuilder()
            .AppendLine(CultureInfo.InvariantCulture, $"# RoutingDataSource.Testing: settings of node {node.Name}. ALTER SYSTEM (postgresql.auto.conf) overrides them.")
            .AppendLine(CultureInfo.InvariantCulture, $"port = {node.Port}")
            .AppendLine("listen_addresses = '127.0.0.1'")
            .AppendLine(CultureInfo.InvariantCulture, $"unix_socket_directories = {Quote(socketDirectory)}")
            .AppendLine(CultureInfo.InvariantCulture, $"cluster_name = {Quote(node.Name)}")
            .AppendLine("max_connections = 100")
            // Fast and small: these servers hold throw-away data, many run at once on small machines.
            .AppendLine("shared_buffers = 16MB")
            .AppendLine("fsync = off")
            .AppendLine("huge_pages = off")
            // Dynamic shared memory as files in the data directory: an immediate shutdown leaves
            // POSIX segments behind in /dev/shm, files here go away with the directory.
            .AppendLine("dynamic_shared_memory_type = mmap")
            .AppendLine("max_prepared_transactions = 0")
            // Replication. full_page_writes stays on: pg_rewind needs it, and so does wal_log_hints.
            .AppendLine("wal_level = replica")
            .AppendLine("wal_log_hints = on")
            .AppendLine(CultureInfo.InvariantCulture, $"max_wal_senders = {senders}")
            .AppendLine(CultureInfo.InvariantCulture, $"max_replication_slots = {senders}")
            .AppendLine("hot_standby = on")
            .AppendLine("hot_standby_feedback = on")
            // Fresh lag numbers in pg_stat_replication, and quick reconnects after a failover.
            .AppendLine("wal_receiver_status_interval = 1s")
            .AppendLine("wal_retrieve_retry_interval = 100ms")
            .AppendLine("logging_collector = off")
            .AppendLine("log_line_prefix = '%m [%p] %q%a '");

        var synchronousNames = options.SynchronousStandbyNames
            ?? (options.SynchronousReplication
                ? $"ANY 1 ({string.Join(", ", nodes.Where(n => n.IsInitialStandby).Select(n => QuoteIdentifier(n.ApplicationName)))})"
                : null);
        if (synchronousNames is not null)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"synchronous_standby_names = {Quote(synchronousNames)}");
        }

        if (upstream is not null)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"primary_conninfo = {Quote(PrimaryConnectionInfo(upstream, node))}")
                .AppendLine(CultureInfo.InvariantCulture, $"primary_slot_name = {Quote(node.SlotName)}");
        }

        if (options.ExtraSettings.Count > 0)
        {
            text.AppendLine("# Extra settings from LocalPgClusterOptions.ExtraSettings.");
            foreach (var line in options.ExtraSettings)
            {
                text.AppendLine(line);
            }
        }

        return text.ToString();
    }

    /// <summary>The libpq connection string a standby uses to stream from <paramref name="upstream"/>.</summary>
    public static string PrimaryConnectionInfo(LocalPgNode upstream, LocalPgNode standby) =>
        $"host={upstream.Host} port={upstream.Port.ToString(CultureInfo.InvariantCulture)} user={LocalPgCluster.SuperUser} "
        + $"application_name={QuoteConnectionValue(standby.ApplicationName)} connect_timeout=2";

    /// <summary>A postgresql.conf string value: its parser also reads backslash escapes.</summary>
    public static string Quote(string value) =>
        "'" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "''", StringComparison.Ordinal) + "'";

    /// <summary>An SQL string literal (standard_conforming_strings is on by default).</summary>
    public static string SqlLiteral(string value) => "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";

    private static string QuoteIdentifier(string value) => "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private static string QuoteConnectionValue(string value) =>
        "'" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal) + "'";
}
