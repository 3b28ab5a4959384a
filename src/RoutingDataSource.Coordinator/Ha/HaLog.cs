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
}
