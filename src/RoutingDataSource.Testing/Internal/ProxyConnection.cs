using System.Net.Sockets;

namespace RoutingDataSource.Testing.Internal;

/// <summary>The two sockets of one proxied connection and the token that ends its pumps.</summary>
internal sealed class ProxyConnection : IDisposable
{
    private readonly Socket _client;
    private readonly CancellationTokenSource _ended;
    private Socket? _upstream;
    private bool _closed;

    public ProxyConnection(Socket client, CancellationToken proxyShutdown)
    {
        client.NoDelay = true;
        _client = client;
        _ended = CancellationTokenSource.CreateLinkedTokenSource(proxyShutdown);
        Token = _ended.Token;
    }

    public CancellationToken Token { get; }

    /// <summary>Registers the server-side socket; false (and the socket disposed) when the connection already ended.</summary>
    public bool AttachUpstream(Socket upstream)
    {
        lock (_ended)
        {
            if (_closed)
            {
                upstream.Dispose();
                return false;
            }

            _upstream = upstream;
            return true;
        }
    }

    /// <summary>Ends the connection with a reset on both sides (linger 0 sends RST instead of FIN).</summary>
    public void Abort() => End(reset: true);

    /// <summary>Ends the connection with an orderly close on both sides.</summary>
    public void Close() => End(reset: false);

    /// <summary>Closes a socket with RST.</summary>
    public static void Reset(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
        }
        catch (SocketException)
        {
            // Already reset by the peer.
        }
        catch (ObjectDisposedException)
        {
            return;
        }

        socket.Dispose();
    }

    public void Dispose()
    {
        End(reset: true);
        _ended.Dispose();
    }

    private void End(bool reset)
    {
        lock (_ended)
        {
            if (_closed)
            {
                return;
            }

            _closed = true;
            _ended.Cancel();
            foreach (var socket in new[] { _client, _upstream })
            {
                if (socket is null)
                {
                    continue;
                }

                if (reset)
                {
                    Reset(socket);
                }
                else
                {
                    socket.Dispose();
                }
            }
        }
    }
}
