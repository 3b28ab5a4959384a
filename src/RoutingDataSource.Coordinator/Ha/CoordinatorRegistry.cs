using System.Text.Json;
using Etcdserverpb;
using Google.Protobuf;

namespace RoutingDataSource.Coordinator.Ha;

/// <summary>One running coordinator as <c>GET /cluster</c> lists it: <c>{"name", "http", "leader"}</c>.</summary>
internal sealed record CoordinatorInfo(string Name, string? Http, bool Leader);

/// <summary>The coordinators of a cluster and who leads, read in one consistent snapshot.</summary>
internal sealed record CoordinatorsView(string? Leader, IReadOnlyList<CoordinatorInfo> Coordinators, long Revision);

/// <summary>
/// The coordinators' registry: <c>{Prefix}/members/{name}</c> holds <c>{"name", "http"}</c>, bound to that
/// coordinator's lease, so that a coordinator that dies drops out by itself when its lease ends. A name is claimed
/// only while no other live lease holds it: names are unique among the running coordinators.
/// </summary>
internal sealed class CoordinatorRegistry(EtcdConnection etcd, HaKeys keys)
{
    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);

    /// <summary>
    /// Registers <paramref name="name"/> on <paramref name="leaseId"/>: creates the key, or rewrites it when it is on this
    /// lease already. False when another lease holds the name (another running coordinator with the same name).
    /// </summary>
    public async Task<bool> RegisterAsync(string name, string? http, long leaseId, CancellationToken cancellationToken)
    {
        var key = ByteString.CopyFromUtf8(keys.Member(name));
        var value = ByteString.CopyFromUtf8(JsonSerializer.Serialize(new Registration(name, http), JsonOptions));
        var put = new RequestOp { RequestPut = new PutRequest { Key = key, Value = value, Lease = leaseId } };
        var create = new TxnRequest { Compare = { new Compare { Key = key, Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = 0 } }, Success = { put } };
        if ((await etcd.TxnAsync(create, cancellationToken).ConfigureAwait(false)).Succeeded)
            return true;
        var mine = new TxnRequest { Compare = { new Compare { Key = key, Target = Compare.Types.CompareTarget.Lease, Result = Compare.Types.CompareResult.Equal, Lease = leaseId } }, Success = { put } };
        return (await etcd.TxnAsync(mine, cancellationToken).ConfigureAwait(false)).Succeeded;
    }

    /// <summary>Every registered coordinator and the leader, from one transaction (one revision).</summary>
    public async Task<CoordinatorsView> ReadAsync(CancellationToken cancellationToken)
    {
        var read = new TxnRequest
        {
            Success =
            {
                new RequestOp { RequestRange = EtcdConnection.Range(keys.Leader, prefix: false) },
                new RequestOp { RequestRange = EtcdConnection.Range(keys.Members, prefix: true) },
            },
        };
        var response = await etcd.TxnAsync(read, cancellationToken).ConfigureAwait(false);
        var leader = response.Responses[0].ResponseRange.Kvs.FirstOrDefault()?.Value.ToStringUtf8();
        var coordinators = response.Responses[1].ResponseRange.Kvs
            .Select(kv => Parse(kv.Key.ToStringUtf8()[keys.Members.Length..], kv.Value.ToStringUtf8()))
            .Select(r => new CoordinatorInfo(r.Name, r.Http, r.Name == leader))
            .OrderBy(c => c.Name, StringComparer.Ordinal)
            .ToList();
        return new CoordinatorsView(leader, coordinators, response.Header.Revision);
    }

    // A value this version cannot read still names a coordinator (its key does).
    private static Registration Parse(string name, string json)
    {
        try
        {
            return JsonSerializer.Deserialize<Registration>(json, JsonOptions) is { Name.Length: > 0 } r ? r : new Registration(name, null);
        }
        catch (JsonException)
        {
            return new Registration(name, null);
        }
    }

    private sealed record Registration(string Name, string? Http);
}
