using System.Net.Http;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;

namespace RoutingDataSource.Coordinator.Ha;

/// <summary>
/// The coordinator's one channel to etcd (dotnet-etcd's client: gRPC, round robin over the endpoints, TLS and
/// credentials from <see cref="CoordinatorEtcdOptions"/>), reduced to the few calls leader election and the state
/// store make, each bounded by a deadline: a member that hangs must cost a call, never the leader's lease.
/// Only the raw KV and lease services are used, never the library's election helpers (they do not bind the
/// campaign to a lease: upstream PR #321).
/// </summary>
internal sealed class EtcdConnection : IDisposable
{
    private readonly EtcdClient _client;

    public EtcdConnection(CoordinatorEtcdOptions options, TimeSpan requestTimeout)
    {
        ArgumentNullException.ThrowIfNull(options);
        RequestTimeout = requestTimeout;
        var endpoints = string.Join(',', options.Endpoints);
        var https = options.Endpoints.Any(e => e.StartsWith("https://", StringComparison.OrdinalIgnoreCase));
        _client = https
            ? new EtcdClient(endpoints, ssl => ConfigureTls(ssl, options), configureChannelOptions: c => ConfigureChannel(c, requestTimeout))
            : new EtcdClient(endpoints, configureChannelOptions: c => ConfigureChannel(c, requestTimeout));
        if (options.Username is { Length: > 0 } user && options.Password is { Length: > 0 } password)
            _client.SetCredentials(user, password);
    }

    /// <summary>The longest any one call may take.</summary>
    public TimeSpan RequestTimeout { get; }

    /// <summary>A lease of <paramref name="ttlSeconds"/>; etcd may grant a longer one (its minimum), never a shorter one.</summary>
    public async Task<LeaseGrantResponse> GrantLeaseAsync(long ttlSeconds, CancellationToken cancellationToken) =>
        await _client.GetConnection().LeaseClient.LeaseGrantAsync(new LeaseGrantRequest { TTL = ttlSeconds }, deadline: Deadline(null), cancellationToken: cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// One renewal of a lease, as etcd's <c>KeepAliveOnce</c>: a keep-alive stream opened, one request, one answer.
    /// Returns the lease's new TTL in seconds, 0 or less when the lease is gone (expired or revoked).
    /// </summary>
    public async Task<long> KeepAliveOnceAsync(long leaseId, CancellationToken cancellationToken)
    {
        using var call = _client.GetConnection().LeaseClient.LeaseKeepAlive(deadline: Deadline(null), cancellationToken: cancellationToken);
        await call.RequestStream.WriteAsync(new LeaseKeepAliveRequest { ID = leaseId }, cancellationToken).ConfigureAwait(false);
        if (!await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
            throw new RpcException(new Status(StatusCode.Unavailable, "etcd closed the keep-alive stream without an answer"));
        var ttl = call.ResponseStream.Current.TTL;
        await call.RequestStream.CompleteAsync().ConfigureAwait(false);
        return ttl;
    }

    /// <summary>Ends a lease now, deleting every key bound to it (a clean resignation).</summary>
    public async Task RevokeLeaseAsync(long leaseId, CancellationToken cancellationToken) =>
        await _client.GetConnection().LeaseClient.LeaseRevokeAsync(new LeaseRevokeRequest { ID = leaseId }, deadline: Deadline(null), cancellationToken: cancellationToken).ConfigureAwait(false);

    /// <summary>A transaction; <paramref name="until"/> may shorten the deadline (a leader's term ending sooner).</summary>
    public async Task<TxnResponse> TxnAsync(TxnRequest request, CancellationToken cancellationToken, DateTime? until = null) =>
        await _client.GetConnection().KVClient.TxnAsync(request, deadline: Deadline(until), cancellationToken: cancellationToken).ConfigureAwait(false);

    /// <summary>A linearizable read of one key, or of every key under <paramref name="key"/> when <paramref name="prefix"/>.</summary>
    public async Task<RangeResponse> GetAsync(string key, bool prefix, CancellationToken cancellationToken) =>
        await _client.GetConnection().KVClient.RangeAsync(Range(key, prefix), deadline: Deadline(null), cancellationToken: cancellationToken).ConfigureAwait(false);

    /// <summary>A range request (for transactions and <see cref="GetAsync"/>).</summary>
    public static RangeRequest Range(string key, bool prefix) => prefix
        ? new RangeRequest { Key = ByteString.CopyFromUtf8(key), RangeEnd = ByteString.CopyFromUtf8(EtcdClient.GetRangeEnd(key)) }
        : new RangeRequest { Key = ByteString.CopyFromUtf8(key) };

    /// <summary>True for the failures that mean "etcd did not answer in time or at all", as opposed to a refused request.</summary>
    public static bool IsUnavailable(Exception e) => e switch
    {
        RpcException r => r.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Cancelled or StatusCode.Aborted or StatusCode.Internal or StatusCode.Unknown,
        OperationCanceledException or HttpRequestException or IOException or TimeoutException => true,
        _ => false,
    };

    public void Dispose() => _client.Dispose();

    private DateTime Deadline(DateTime? until)
    {
        var deadline = DateTime.UtcNow + RequestTimeout;
        return until is { } u && u < deadline ? u : deadline;
    }

    // The library's defaults ping every 30 s even when idle (which etcd's keepalive policy answers with GOAWAY):
    // ping only while calls are active, soon enough that a hung member's connection is dropped and round robin moves on.
    private static void ConfigureChannel(Grpc.Net.Client.GrpcChannelOptions channel, TimeSpan requestTimeout)
    {
        if (channel.HttpHandler is SocketsHttpHandler sockets)
        {
            sockets.KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests;
            sockets.KeepAlivePingDelay = TimeSpan.FromSeconds(10);
            sockets.KeepAlivePingTimeout = requestTimeout * 2;
            sockets.ConnectTimeout = requestTimeout;
        }
    }

    private static void ConfigureTls(SslClientAuthenticationOptions ssl, CoordinatorEtcdOptions options)
    {
        if (options.ClientCertificateFile is { } certificate && options.ClientKeyFile is { } key)
            ssl.ClientCertificates = [X509Certificate2.CreateFromPemFile(certificate, key)];
        if (options.CaFile is not { } caFile)
            return;
        var authorities = new X509Certificate2Collection();
        authorities.ImportFromPemFile(caFile);
        ssl.RemoteCertificateValidationCallback = (_, presented, _, errors) =>
        {
            if (presented is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
                return false;
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return chain.Build(new X509Certificate2(presented));
        };
    }
}
