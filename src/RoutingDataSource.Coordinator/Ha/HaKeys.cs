namespace RoutingDataSource.Coordinator.Ha;

/// <summary>
/// The etcd key layout of one PostgreSQL cluster, all under <see cref="CoordinatorEtcdOptions.Prefix"/>:
/// <list type="bullet">
/// <item><c>{Prefix}/leader</c>: the leading coordinator's name, bound to its lease; its create revision is the fencing token.</item>
/// <item><c>{Prefix}/members/{name}</c>: each running coordinator, <c>{"name", "http"}</c>, bound to its lease.</item>
/// <item><c>{Prefix}/state/{document}</c>: the durable cluster state, JSON documents the leader writes with compare-and-swap
/// (<c>identity</c>, <c>primary</c>, <c>synchronous</c>, <c>detached</c>, <c>operation</c>, <c>history</c>, <c>agents</c>).</item>
/// </list>
/// </summary>
internal sealed class HaKeys
{
    public HaKeys(string prefix)
    {
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        Prefix = prefix;
    }

    public string Prefix { get; }

    public string Leader => Prefix + "/leader";

    /// <summary>The members' directory, with its trailing '/', for a prefix read.</summary>
    public string Members => Prefix + "/members/";

    /// <summary>The state documents' directory, with its trailing '/', for a prefix read.</summary>
    public string State => Prefix + "/state/";

    public string Member(string name) => Members + name;

    public string StateDocument(string document) => State + document;
}
