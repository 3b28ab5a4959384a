using System.Text.Json;
using Etcdserverpb;
using Google.Protobuf;

namespace RoutingDataSource.Coordinator.Ha;

/// <summary>The outcome of <see cref="ClusterStateStore.WriteAsync"/>: the state as written when <see cref="Outcome"/> is Applied.</summary>
internal sealed record StateWriteResult(GuardedOutcome Outcome, ClusterState? State);

/// <summary>
/// The durable cluster state under <c>{Prefix}/state/</c>, one JSON document per key (see <see cref="HaKeys"/>). Any
/// coordinator reads it; only the leader writes it, with compare-and-swap on each changed document's revision and
/// on the leader key (<see cref="LeaderElection.GuardedMutationAsync"/>), in one transaction.
/// </summary>
internal sealed class ClusterStateStore(EtcdConnection etcd, HaKeys keys)
{
    private const string IdentityKey = "identity";
    private const string PrimaryKey = "primary";
    private const string SynchronousKey = "synchronous";
    private const string DetachedKey = "detached";
    private const string OperationKey = "operation";
    private const string HistoryKey = "history";
    private const string AgentsKey = "agents";

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);

    /// <summary>Every document, in one linearizable read.</summary>
    /// <exception cref="InvalidDataException">A document is not what this version writes (its key is in the message).</exception>
    public async Task<ClusterState> ReadAsync(CancellationToken cancellationToken)
    {
        var response = await etcd.GetAsync(keys.State, prefix: true, cancellationToken).ConfigureAwait(false);
        var documents = response.Kvs.ToDictionary(kv => kv.Key.ToStringUtf8(), StringComparer.Ordinal);
        return new ClusterState(
            Read<ClusterIdentity>(documents, IdentityKey),
            Read<PrimaryRecord>(documents, PrimaryKey),
            Read<SynchronousSet>(documents, SynchronousKey),
            Read<DetachedMembers>(documents, DetachedKey),
            Read<OperationRecord>(documents, OperationKey),
            Read<FailoverHistory>(documents, HistoryKey),
            response.Header.Revision,
            Read<AgentReports>(documents, AgentsKey));
    }

    /// <summary>
    /// Writes the documents of <paramref name="next"/> that differ from <paramref name="basis"/> (the snapshot they were
    /// derived from): a document set to null is deleted. Conflict when any of them changed since <paramref name="basis"/>
    /// was read; NotLeader when <paramref name="leader"/> does not lead (nothing is written then either).
    /// </summary>
    public async Task<StateWriteResult> WriteAsync(LeaderElection leader, ClusterState basis, ClusterState next, CancellationToken cancellationToken)
    {
        var compares = new List<Compare>();
        var operations = new List<RequestOp>();
        var changed = new HashSet<string>(StringComparer.Ordinal);
        Diff(basis.Identity, next.Identity, IdentityKey);
        Diff(basis.Primary, next.Primary, PrimaryKey);
        Diff(basis.Synchronous, next.Synchronous, SynchronousKey);
        Diff(basis.Detached, next.Detached, DetachedKey);
        Diff(basis.Operation, next.Operation, OperationKey);
        Diff(basis.History, next.History, HistoryKey);
        Diff(basis.Agents, next.Agents, AgentsKey);
        if (changed.Count == 0)
            return new StateWriteResult(leader.IsLeader ? GuardedOutcome.Applied : GuardedOutcome.NotLeader, leader.IsLeader ? basis : null);

        var result = await leader.GuardedMutationAsync(compares, operations, cancellationToken).ConfigureAwait(false);
        if (!result.Applied)
            return new StateWriteResult(result.Outcome, null);
        var revision = result.Revision;
        return new StateWriteResult(GuardedOutcome.Applied, next with
        {
            Identity = Stamp(next.Identity, IdentityKey),
            Primary = Stamp(next.Primary, PrimaryKey),
            Synchronous = Stamp(next.Synchronous, SynchronousKey),
            Detached = Stamp(next.Detached, DetachedKey),
            Operation = Stamp(next.Operation, OperationKey),
            History = Stamp(next.History, HistoryKey),
            Agents = Stamp(next.Agents, AgentsKey),
            Revision = revision,
        });

        Versioned<T> Stamp<T>(Versioned<T> document, string name)
            where T : class =>
            !changed.Contains(name) ? document : new Versioned<T>(document.Value, document.Value is null ? 0 : revision);

        void Diff<T>(Versioned<T> before, Versioned<T> after, string name)
            where T : class
        {
            // Compared as JSON: the records hold lists, which compare by reference.
            var json = after.Value is null ? null : JsonSerializer.Serialize(after.Value, JsonOptions);
            if (json == (before.Value is null ? null : JsonSerializer.Serialize(before.Value, JsonOptions)))
                return;
            var key = ByteString.CopyFromUtf8(keys.StateDocument(name));
            changed.Add(name);
            compares.Add(new Compare { Key = key, Target = Compare.Types.CompareTarget.Mod, Result = Compare.Types.CompareResult.Equal, ModRevision = before.ModRevision });
            operations.Add(json is null
                ? new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = key } }
                : new RequestOp { RequestPut = new PutRequest { Key = key, Value = ByteString.CopyFromUtf8(json) } });
        }
    }

    private Versioned<T> Read<T>(Dictionary<string, Mvccpb.KeyValue> documents, string name)
        where T : class
    {
        var key = keys.StateDocument(name);
        if (!documents.TryGetValue(key, out var kv))
            return Versioned<T>.Absent;
        try
        {
            var value = JsonSerializer.Deserialize<T>(kv.Value.Span, JsonOptions) ?? throw new JsonException("null document");
            return new Versioned<T>(value, kv.ModRevision);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"etcd key {key} does not hold a {typeof(T).Name} document: {e.Message}", e);
        }
    }
}
