namespace RoutingDataSource.Testing;

/// <summary>
/// One client's own path to every member of a <see cref="LocalEtcdCluster"/> (from <see cref="LocalEtcdCluster.OpenRoute"/>):
/// a <see cref="FaultProxy"/> per member, so that a test cuts this client off from etcd, say the leading coordinator,
/// while the other clients and the members themselves carry on.
/// </summary>
public sealed class LocalEtcdRoute : IAsyncDisposable
{
    private readonly FaultProxy[] _proxies;
    private int _disposed;

    internal LocalEtcdRoute(FaultProxy[] proxies) => _proxies = proxies;

    /// <summary>The proxies, one per member in the cluster's member order.</summary>
    public IReadOnlyList<FaultProxy> Proxies => _proxies;

    /// <summary>The client URLs through this route's proxies, for the client's endpoint list.</summary>
    public IReadOnlyList<string> Endpoints => _proxies.Select(p => $"http://{p.Host}:{p.Port}").ToArray();

    /// <summary>A partition: nothing passes in either direction, on established and new connections alike, until <see cref="Heal"/>.</summary>
    public void Blackhole()
    {
        foreach (var proxy in _proxies)
        {
            proxy.Blackhole();
        }
    }

    /// <summary>Connections are reset and new ones refused, as if every member were down.</summary>
    public void Reject()
    {
        foreach (var proxy in _proxies)
        {
            proxy.Reject();
        }
    }

    /// <summary>Back to plain forwarding.</summary>
    public void Heal()
    {
        foreach (var proxy in _proxies)
        {
            proxy.Heal();
        }
    }

    /// <summary>Closes the proxies.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        foreach (var proxy in _proxies)
        {
            await proxy.DisposeAsync().ConfigureAwait(false);
        }
    }
}
