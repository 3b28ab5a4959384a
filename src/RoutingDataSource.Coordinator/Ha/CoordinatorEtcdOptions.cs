namespace RoutingDataSource.Coordinator;

/// <summary>
/// The optional <c>Coordinator:Etcd</c> section: with it, any number of coordinators (3 recommended) elect one leader
/// through a lease-bound key in etcd and keep the cluster's state there; without it one coordinator runs alone.
/// </summary>
public sealed class CoordinatorEtcdOptions
{
    /// <summary>The default <see cref="LeaseTtl"/>.</summary>
    public static readonly TimeSpan DefaultLeaseTtl = TimeSpan.FromSeconds(5);

    /// <summary>Client URLs of the etcd members, all <c>http://</c> or all <c>https://</c>, e.g. <c>http://127.0.0.1:2379</c>.</summary>
    public IList<string> Endpoints { get; } = [];

    /// <summary>
    /// The key prefix of this PostgreSQL cluster, one per cluster, e.g. <c>/routing/main</c>: the leader key is
    /// <c>{Prefix}/leader</c>, the state <c>{Prefix}/state/...</c>, the coordinators <c>{Prefix}/members/{Name}</c>.
    /// </summary>
    public string Prefix { get; set; } = "";

    /// <summary>
    /// The time-to-live of the leader's lease, in whole seconds, at least 2 s. Default 5 s. A leader that cannot renew
    /// stops acting a safety margin before it ends; another coordinator leads once it has.
    /// </summary>
    public TimeSpan LeaseTtl { get; set; } = DefaultLeaseTtl;

    /// <summary>etcd user (with <see cref="Password"/>) when etcd has authentication enabled.</summary>
    public string? Username { get; set; }

    /// <summary>The password of <see cref="Username"/>.</summary>
    public string? Password { get; set; }

    /// <summary>PEM file of the CA that signed the members' certificates (https endpoints); default: the system's trusted roots.</summary>
    public string? CaFile { get; set; }

    /// <summary>PEM client certificate for etcd's <c>--client-cert-auth</c> (with <see cref="ClientKeyFile"/>; https endpoints).</summary>
    public string? ClientCertificateFile { get; set; }

    /// <summary>PEM private key of <see cref="ClientCertificateFile"/>.</summary>
    public string? ClientKeyFile { get; set; }
}
