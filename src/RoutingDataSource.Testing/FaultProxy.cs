using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using RoutingDataSource.Testing.Internal;

namespace RoutingDataSource.Testing;

/// <summary>
/// A TCP forwarder on 127.0.0.1 in front of one server, to inflict network faults that a
/// stopped or frozen server cannot: silently dropped traffic (<see cref="Blackhole"/>),
/// refused connections (<see cref="Reject"/>), latency (<see cref="Delay"/>) and cut
/// connections (<see cref="SeverAll"/>). Forwarding is asynchronous with pooled buffers; no
/// thread is held per connection.
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    private const int BufferSize = 16 * 1024;

    private readonly Socket _listener;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly ConcurrentDictionary<ProxyConnection, byte> _connections = new();
    private readonly ConcurrentDictionary<Task, byte> _serving = new();
    private readonly Task _acceptLoop;
    private ProxyBehaviour _behaviour = ProxyBehaviour.Forward(TimeSpan.Zero);
    private long _accepted;
    private int _disposed;

    private FaultProxy(string targetHost, int targetPort)
    {
        TargetHost = targetHost;
        TargetPort = targetPort;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _listener.Listen(128);
        }
        catch
        {
            _listener.Dispose();
            _shutdown.Dispose();
            throw;
        }

        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _acceptLoop = AcceptLoopAsync();
    }

    /// <summary>Always 127.0.0.1.</summary>
    public string Host => "127.0.0.1";

    /// <summary>The port clients connect to.</summary>
    public int Port { get; }

    /// <summary>The host traffic is forwarded to.</summary>
    public string TargetHost { get; }

    /// <summary>The port traffic is forwarded to.</summary>
    public int TargetPort { get; }

    /// <summary>Client connections open through the proxy right now.</summary>
    public int ActiveConnections => _connections.Count;

    /// <summary>Client connections accepted since the proxy started (including rejected ones).</summary>
    public long AcceptedConnections => Interlocked.Read(ref _accepted);

    /// <summary>Starts a proxy that forwards to <paramref name="targetHost"/>:<paramref name="targetPort"/>.</summary>
    public static FaultProxy Start(string targetHost, int targetPort)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(targetHost);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(targetPort);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(targetPort, IPEndPoint.MaxPort);
        return new FaultProxy(targetHost, targetPort);
    }

    /// <summary>Starts a proxy in front of <paramref name="node"/>; reach it with <see cref="LocalPgNode.ConnectionStringVia"/>.</summary>
    public static FaultProxy For(LocalPgNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        return Start(node.Host, node.Port);
    }

    /// <summary>
    /// A hung server or a partition: connections are still accepted, but nothing is forwarded in
    /// either direction, on new and established connections alike. Data is held, not lost, and
    /// flows again after <see cref="Heal"/>, as after a healed partition.
    /// </summary>
    public void Blackhole() => Switch(ProxyBehaviour.Blackhole());

    /// <summary>A server that is down: established connections are reset, new ones are reset at once (RST), so connecting fails fast.</summary>
    public void Reject()
    {
        Switch(ProxyBehaviour.Reject());
        SeverAll();
    }

    /// <summary>Forwards normally, but holds every chunk of data for <paramref name="latency"/> first (both directions).</summary>
    public void Delay(TimeSpan latency)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(latency, TimeSpan.Zero);
        Switch(ProxyBehaviour.Forward(latency));
    }

    /// <summary>Back to plain forwarding: no delay, blackholed data flows again, new connections are served.</summary>
    public void Heal() => Switch(ProxyBehaviour.Forward(TimeSpan.Zero));

    /// <summary>Resets every established connection (both sides see a connection reset); the mode is unchanged.</summary>
    public void SeverAll()
    {
        foreach (var connection in _connections.Keys)
        {
            connection.Abort();
        }
    }

    /// <summary>Stops listening and resets every connection.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _shutdown.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        SeverAll();
        await _acceptLoop.ConfigureAwait(false);
        await Task.WhenAll(_serving.Keys).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        _shutdown.Dispose();
    }

    /// <summary>"FaultProxy 127.0.0.1:port -> host:port".</summary>
    public override string ToString() => $"FaultProxy {Host}:{Port} -> {TargetHost}:{TargetPort}";

    private void Switch(ProxyBehaviour next)
    {
        ObjectDisposedException.ThrowIf(_disposed == 1, this);
        Interlocked.Exchange(ref _behaviour, next).Supersede();
    }

    private async Task AcceptLoopAsync()
    {
        // Let the constructor return before the first await completes synchronously.
        await Task.Yield();
        while (true)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_shutdown.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException || _shutdown.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                continue; // the client gave up before we accepted it
            }

            Interlocked.Increment(ref _accepted);
            var serving = ServeAsync(client);
            _serving.TryAdd(serving, 0);
            _ = serving.ContinueWith(t => _serving.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    private async Task ServeAsync(Socket client)
    {
        if (Volatile.Read(ref _behaviour).Mode == ProxyMode.Reject)
        {
            ProxyConnection.Reset(client);
            return;
        }

        var connection = new ProxyConnection(client, _shutdown.Token);
        _connections.TryAdd(connection, 0);
        try
        {
            // A blackholed new connection is accepted and then left hanging before the upstream connect.
            if (!await PassGateAsync(connection.Token).ConfigureAwait(false))
            {
                connection.Abort();
                return;
            }

            var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            if (!connection.AttachUpstream(upstream))
            {
                return;
            }

            await upstream.ConnectAsync(TargetHost, TargetPort, connection.Token).ConfigureAwait(false);
            var toServer = PumpAsync(client, upstream, connection.Token);
            var toClient = PumpAsync(upstream, client, connection.Token);
            await Task.WhenAny(toServer, toClient).ConfigureAwait(false);
            connection.Close();
            await Task.WhenAll(toServer, toClient).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The server refused or the connection was severed: the client sees a reset.
            connection.Abort();
        }
        finally
        {
            connection.Close();
            _connections.TryRemove(connection, out _);
            connection.Dispose();
        }
    }

    private async Task PumpAsync(Socket from, Socket to, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer.AsMemory(), SocketFlags.None, cancellationToken).ConfigureAwait(false);
                if (read == 0 || !await PassGateAsync(cancellationToken).ConfigureAwait(false))
                {
                    return;
                }

                for (var sent = 0; sent < read;)
                {
                    sent += await to.SendAsync(buffer.AsMemory(sent, read - sent), SocketFlags.None, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // One side went away or the connection was severed; the caller closes both sides.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    // Waits while blackholed, applies the latency, and says whether data may pass at all.
    private async Task<bool> PassGateAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var behaviour = Volatile.Read(ref _behaviour);
            switch (behaviour.Mode)
            {
                case ProxyMode.Blackhole:
                    await behaviour.Superseded.WaitAsync(cancellationToken).ConfigureAwait(false);
                    continue;
                case ProxyMode.Reject:
                    return false;
                default:
                    if (behaviour.Latency > TimeSpan.Zero)
                    {
                        await Task.Delay(behaviour.Latency, cancellationToken).ConfigureAwait(false);
                    }

                    return true;
            }
        }
    }
}
