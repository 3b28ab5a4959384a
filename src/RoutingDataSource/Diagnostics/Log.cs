using Microsoft.Extensions.Logging;

namespace RoutingDataSource.Diagnostics;

/// <summary>
/// Every log event of the library, source-generated. Event ids are part of the documented surface (README, "Logging").
/// Messages carry backend names, hosts and ports, never connection strings or passwords.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Backend {Backend} role changed from {OldRole} to {NewRole} (timeline {Timeline})")]
    public static partial void RoleChanged(ILogger logger, string backend, BackendRole oldRole, BackendRole newRole, int? timeline);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Warning, Message = "Backend {Backend} is down: {Error}")]
    public static partial void BackendDown(ILogger logger, string backend, string? error);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Information, Message = "Backend {Backend} is up ({Role})")]
    public static partial void BackendUp(ILogger logger, string backend, BackendRole role);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Information, Message = "Primary changed from {OldPrimary} to {NewPrimary}")]
    public static partial void PrimaryChanged(ILogger logger, string? oldPrimary, string? newPrimary);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Warning, Message = "No writable primary: {Problem}")]
    public static partial void NoPrimary(ILogger logger, string problem);

    [LoggerMessage(EventId = 1014, Level = LogLevel.Error, Message = "Split brain: {Problem}")]
    public static partial void SplitBrain(ILogger logger, string problem);

    [LoggerMessage(EventId = 1006, Level = LogLevel.Error, Message = "Backend {Backend} fenced: {Reason}")]
    public static partial void Fenced(ILogger logger, string backend, string? reason);

    [LoggerMessage(EventId = 1007, Level = LogLevel.Warning, Message = "Standby {Backend} stopped serving reads: {Reason}")]
    public static partial void StandbyIneligible(ILogger logger, string backend, string? reason);

    [LoggerMessage(EventId = 1008, Level = LogLevel.Information, Message = "Standby {Backend} serves reads again")]
    public static partial void StandbyEligible(ILogger logger, string backend);

    [LoggerMessage(EventId = 1009, Level = LogLevel.Warning, Message = "Standby {Backend} has no row in the primary's pg_stat_replication whose application_name is its backend name; its lag in bytes comes from its own replay position, its lag in time is unknown. Set application_name={Backend} in its primary_conninfo to fix.")]
    public static partial void ApplicationNameMismatch(ILogger logger, string backend);

    [LoggerMessage(EventId = 1016, Level = LogLevel.Information, Message = "Standby {Backend} is in the primary's pg_stat_replication again under its backend name; its lag in time is known again")]
    public static partial void ApplicationNameMatched(ILogger logger, string backend);

    [LoggerMessage(EventId = 1010, Level = LogLevel.Information, Message = "Statement refused as read-only (25006) by {Backend}; re-run on primary {Primary}")]
    public static partial void Rerouted(ILogger logger, string backend, string? primary);

    [LoggerMessage(EventId = 1017, Level = LogLevel.Error, Message = "Backend {Backend} ({Host}:{Port}) rejects the configured connection: {Error}. This does not pass by itself ({Advice}); the backend gets no traffic until a health check succeeds")]
    public static partial void PermanentConnectionError(ILogger logger, string backend, string host, int port, string? error, string advice);

    [LoggerMessage(EventId = 1011, Level = LogLevel.Debug, Message = "Health check of {Backend} failed: {Error}")]
    public static partial void ProbeFailed(ILogger logger, string backend, string? error);

    [LoggerMessage(EventId = 1012, Level = LogLevel.Warning, Message = "Could not look up function volatility on the primary: {Error}")]
    public static partial void VolatilityLookupFailed(ILogger logger, string error);

    [LoggerMessage(EventId = 1025, Level = LogLevel.Warning, Message = "Could not look up the unlogged relations on the primary: {Error}")]
    public static partial void UnloggedLookupFailed(ILogger logger, string error);

    [LoggerMessage(EventId = 1013, Level = LogLevel.Debug, Message = "Connection-class error on {Backend}; re-probing the cluster: {Error}")]
    public static partial void ConnectionErrorReprobe(ILogger logger, string backend, string error);

    [LoggerMessage(EventId = 1015, Level = LogLevel.Warning, Message = "Backend {Backend} taken out of service: stopped waiting for {Count} operation(s) in flight there; their connections are abandoned")]
    public static partial void StatementsAbandoned(ILogger logger, string backend, int count);

    [LoggerMessage(EventId = 1020, Level = LogLevel.Debug, Message = "Topology monitor started for {Count} backend(s)")]
    public static partial void MonitorStarted(ILogger logger, int count);

    [LoggerMessage(EventId = 1021, Level = LogLevel.Error, Message = "Topology monitor round failed unexpectedly")]
    public static partial void MonitorRoundFailed(ILogger logger, Exception exception);
}
