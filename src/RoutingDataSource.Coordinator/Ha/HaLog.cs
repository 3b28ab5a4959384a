using Microsoft.Extensions.Logging;

namespace RoutingDataSource.Coordinator.Ha;

/// <summary>The log events of leader election and the etcd state (ids 2101-2149, beside the coordinator's 2001-2099).</summary>
internal static partial class HaLog
{
    [LoggerMessage(EventId = 2101, Level = LogLevel.Warning, Message = "{Name} leads (lease {LeaseId:x}, fencing token {Token}); may act until {DeadlineMs} ms from now unless renewed")]
    public static partial void BecameLeader(ILogger logger, string name, long leaseId, long token, long deadlineMs);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Warning, Message = "{Name} no longer leads: {Reason}")]
    public static partial void LeadershipLost(ILogger logger, string name, string reason);

    [LoggerMessage(EventId = 2103, Level = LogLevel.Information, Message = "Leader is {Leader}")]
    public static partial void LeaderObserved(ILogger logger, string? leader);

    [LoggerMessage(EventId = 2104, Level = LogLevel.Warning, Message = "etcd did not answer ({Operation}): {Error}")]
    public static partial void EtcdUnavailable(ILogger logger, string operation, string error);

    [LoggerMessage(EventId = 2105, Level = LogLevel.Information, Message = "New etcd lease {LeaseId:x} with TTL {TtlSeconds} s")]
    public static partial void LeaseGranted(ILogger logger, long leaseId, long ttlSeconds);

    [LoggerMessage(EventId = 2106, Level = LogLevel.Warning, Message = "etcd lease {LeaseId:x} is gone (expired or revoked)")]
    public static partial void LeaseLost(ILogger logger, long leaseId);

    [LoggerMessage(EventId = 2107, Level = LogLevel.Error, Message = "Another running coordinator is registered as {Name} ({Key}): names must be unique; not campaigning until it is gone")]
    public static partial void NameTaken(ILogger logger, string name, string key);

    [LoggerMessage(EventId = 2108, Level = LogLevel.Error, Message = "Leader election failed unexpectedly")]
    public static partial void ElectionFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2109, Level = LogLevel.Warning, Message = "Step {Kind} on {Member} ({Detail}) not taken: {Reason}")]
    public static partial void StepRefused(ILogger logger, string kind, string member, string detail, string reason);

    [LoggerMessage(EventId = 2110, Level = LogLevel.Warning, Message = "{Name} runs in HA mode on etcd {Endpoints} (prefix {Prefix}, lease TTL {TtlSeconds} s): only the leader decides")]
    public static partial void HaMode(ILogger logger, string name, string endpoints, string prefix, long ttlSeconds);

    [LoggerMessage(EventId = 2111, Level = LogLevel.Warning, Message = "{Name} runs alone (no Coordinator:Etcd section): it is the cluster's single point of decision; while it is down nobody fails over")]
    public static partial void Alone(ILogger logger, string name);

    [LoggerMessage(EventId = 2112, Level = LogLevel.Warning, Message = "Durable state: {What}")]
    public static partial void State(ILogger logger, string what);

    [LoggerMessage(EventId = 2113, Level = LogLevel.Warning, Message = "Could not write the durable state ({What}): {Reason}")]
    public static partial void StateWriteFailed(ILogger logger, string what, string reason);

    [LoggerMessage(EventId = 2114, Level = LogLevel.Warning, Message = "etcd is reachable again")]
    public static partial void EtcdBack(ILogger logger);

    [LoggerMessage(EventId = 2115, Level = LogLevel.Error, Message = "Test crash point reached: {Name} acts as if its process died")]
    public static partial void Crashed(ILogger logger, string name);
}
