namespace RoutingDataSource.Testing;

/// <summary>How <see cref="LocalPgCluster.StartAsync(LocalPgClusterOptions?, CancellationToken)"/> builds a cluster. The defaults give a primary and two asynchronous standbys.</summary>
public sealed class LocalPgClusterOptions
{
    /// <summary>Number of streaming standbys besides the primary. Default 2 (nodes n0, n1, n2).</summary>
    public int Standbys { get; set; } = 2;

    /// <summary>
    /// Put before every node name ("a-" gives a-n0, a-n1, ...), to tell clusters apart in logs and
    /// in the library's status when several run side by side. Letters, digits, '-' and '_' only.
    /// </summary>
    public string? NamePrefix { get; set; }

    /// <summary>
    /// Shortcut for quorum synchronous replication over all standbys: <c>ANY 1 (n1, n2, ...)</c>.
    /// Ignored when <see cref="SynchronousStandbyNames"/> is set.
    /// </summary>
    public bool SynchronousReplication { get; set; }

    /// <summary>The exact <c>synchronous_standby_names</c> value, e.g. <c>ANY 1 (n1, n2)</c>; null for asynchronous replication.</summary>
    public string? SynchronousStandbyNames { get; set; }

    /// <summary>
    /// Extra postgresql.conf lines for every node, applied after the harness's own settings so
    /// that they win, e.g. <c>wal_receiver_timeout = '2s'</c>.
    /// </summary>
    public IList<string> ExtraSettings { get; } = [];

    /// <summary>
    /// Standby node name to the <c>application_name</c> it streams under, when it must differ from
    /// the node name (by default they are equal), e.g. to test a library that matches
    /// <c>pg_stat_replication</c> rows to nodes.
    /// </summary>
    public IDictionary<string, string> StandbyApplicationNames { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Upper bound for starting the whole cluster. Default 60 s.</summary>
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Upper bound for each later wait (a node start or stop, promotion, catching up). Default 30 s.</summary>
    public TimeSpan OperationTimeout { get; set; } = TimeSpan.FromSeconds(30);

    internal void Validate()
    {
        if (Standbys < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(Standbys), Standbys, "The number of standbys cannot be negative.");
        }

        if (NamePrefix is not null && !NamePrefix.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
        {
            throw new ArgumentException($"NamePrefix '{NamePrefix}' may hold only letters, digits, '-' and '_'.", nameof(NamePrefix));
        }

        if (SynchronousReplication && SynchronousStandbyNames is null && Standbys == 0)
        {
            throw new ArgumentException("Synchronous replication needs at least one standby.", nameof(SynchronousReplication));
        }

        if (StartTimeout <= TimeSpan.Zero || OperationTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("Timeouts must be positive.", nameof(StartTimeout));
        }

        var standbyNames = Enumerable.Range(1, Standbys).Select(i => $"{NamePrefix}n{i}").ToHashSet(StringComparer.Ordinal);
        foreach (var (node, applicationName) in StandbyApplicationNames)
        {
            if (!standbyNames.Contains(node))
            {
                throw new ArgumentException($"StandbyApplicationNames names '{node}', which is not a standby of this cluster ({string.Join(", ", standbyNames)}).", nameof(StandbyApplicationNames));
            }

            if (string.IsNullOrWhiteSpace(applicationName) || applicationName.Any(char.IsControl))
            {
                throw new ArgumentException($"The application_name for '{node}' must be visible text.", nameof(StandbyApplicationNames));
            }
        }
    }
}
