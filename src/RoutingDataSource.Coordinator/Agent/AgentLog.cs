using Microsoft.Extensions.Logging;

namespace RoutingDataSource.Coordinator.Agent;

/// <summary>The node agent's log events (ids 2201-2299). Each order and each of its steps is logged once, with what it saw.</summary>
internal static partial class AgentLog
{
    [LoggerMessage(EventId = 2201, Level = LogLevel.Information, Message = "Agent for {Member} on {Address}: data directory {DataDirectory}, binaries {BinDirectory}, highest term {Term}")]
    public static partial void Started(ILogger logger, string member, Uri address, string dataDirectory, string binDirectory, long term);

    [LoggerMessage(EventId = 2202, Level = LogLevel.Warning, Message = "Order {Kind} (term {Term}, from {Leader}) begins: {Facts}")]
    public static partial void OrderBegins(ILogger logger, AgentOrderKind kind, long term, string leader, string facts);

    [LoggerMessage(EventId = 2203, Level = LogLevel.Information, Message = "Order {Kind}: {Step}")]
    public static partial void Step(ILogger logger, AgentOrderKind kind, string step);

    [LoggerMessage(EventId = 2204, Level = LogLevel.Warning, Message = "Order {Kind} done in {ElapsedMs} ms: {How}")]
    public static partial void OrderDone(ILogger logger, AgentOrderKind kind, long elapsedMs, string how);

    [LoggerMessage(EventId = 2205, Level = LogLevel.Error, Message = "Order {Kind} failed after {ElapsedMs} ms: {Error}")]
    public static partial void OrderFailed(ILogger logger, AgentOrderKind kind, long elapsedMs, string error);

    [LoggerMessage(EventId = 2206, Level = LogLevel.Warning, Message = "Order refused: {Why}")]
    public static partial void Refused(ILogger logger, string why);

    [LoggerMessage(EventId = 2207, Level = LogLevel.Information, Message = "Term {Term} of {Leader} recorded: orders with a lower fencing token are refused from now on")]
    public static partial void Announced(ILogger logger, long term, string leader);
}
