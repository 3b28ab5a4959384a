namespace RoutingDataSource.Testing;

/// <summary>How <see cref="LocalEtcdCluster.StartAsync(LocalEtcdClusterOptions?, CancellationToken)"/> builds an etcd cluster. The defaults give three members.</summary>
public sealed class LocalEtcdClusterOptions
{
    /// <summary>Number of members: 1 (no fault tolerance) or 3 (survives one member down). Default 3.</summary>
    public int Members { get; set; } = 3;

    /// <summary>Put before every member name ("a-" gives a-e0, a-e1, ...). Letters, digits, '-' and '_' only.</summary>
    public string? NamePrefix { get; set; }

    /// <summary>etcd's <c>--heartbeat-interval</c>. Default 100 ms (etcd's own default).</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// etcd's <c>--election-timeout</c>: how long followers wait for the leader before electing another. Default 1 s
    /// (etcd's own default); the minimum lease TTL etcd grants is 1.5 times this.
    /// </summary>
    public TimeSpan ElectionTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Upper bound for starting the whole cluster until every member reports healthy. Default 60 s.</summary>
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Upper bound for each later wait (a member start or stop). Default 30 s.</summary>
    public TimeSpan OperationTimeout { get; set; } = TimeSpan.FromSeconds(30);

    internal void Validate()
    {
        if (Members is not (1 or 3))
        {
            throw new ArgumentOutOfRangeException(nameof(Members), Members, "An etcd cluster for tests has 1 or 3 members.");
        }

        if (NamePrefix is not null && !NamePrefix.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
        {
            throw new ArgumentException($"NamePrefix '{NamePrefix}' may hold only letters, digits, '-' and '_'.", nameof(NamePrefix));
        }

        if (HeartbeatInterval <= TimeSpan.Zero || ElectionTimeout < 5 * HeartbeatInterval)
        {
            throw new ArgumentException("HeartbeatInterval must be positive and ElectionTimeout at least five times as long (etcd refuses less).", nameof(ElectionTimeout));
        }

        if (StartTimeout <= TimeSpan.Zero || OperationTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("Timeouts must be positive.", nameof(StartTimeout));
        }
    }
}
