using Microsoft.Extensions.Logging;

namespace RoutingDataSource.Coordinator.Diagnostics;

/// <summary>
/// Every log event of the coordinator (ids 2001-2099, beside the data source's 1001-1099). Each decision is logged
/// once, where it is made, with its evidence. Never a connection string or a password.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Coordinator started: {Count} backend(s) ({Backends}), probe every {IntervalMs} ms, timeout {TimeoutMs} ms, threshold {Threshold}")]
    public static partial void Started(ILogger logger, int count, string backends, long intervalMs, long timeoutMs, int threshold);

    [LoggerMessage(EventId = 2028, Level = LogLevel.Information, Message = "HTTP API listening on {Address}")]
    public static partial void Listening(ILogger logger, Uri address);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "Primary is {Primary} (timeline {Timeline})")]
    public static partial void PrimaryIs(ILogger logger, string primary, int? timeline);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Warning, Message = "Primary suspect: {Evidence}")]
    public static partial void PrimarySuspect(ILogger logger, string evidence);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Warning, Message = "Failover vetoed: {Evidence}")]
    public static partial void Vetoed(ILogger logger, string evidence);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Error, Message = "Primary declared dead: {Evidence}")]
    public static partial void PrimaryDead(ILogger logger, string evidence);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Information, Message = "Primary recovered: {Evidence}")]
    public static partial void PrimaryRecovered(ILogger logger, string evidence);

    [LoggerMessage(EventId = 2007, Level = LogLevel.Warning, Message = "Candidate: {Evidence}")]
    public static partial void CandidateChosen(ILogger logger, string evidence);

    [LoggerMessage(EventId = 2031, Level = LogLevel.Warning, Message = "Standbys cut off from the old primary {OldPrimary} before promoting: {Evidence}")]
    public static partial void StandbysCutOff(ILogger logger, string oldPrimary, string evidence);

    [LoggerMessage(EventId = 2008, Level = LogLevel.Error, Message = "No failover: {Evidence}")]
    public static partial void NoCandidate(ILogger logger, string evidence);

    [LoggerMessage(EventId = 2009, Level = LogLevel.Warning, Message = "Promoting {Candidate} ({Trigger}; old primary {OldPrimary})")]
    public static partial void Promoting(ILogger logger, string candidate, string trigger, string? oldPrimary);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Warning, Message = "Promoted {Candidate}: primary on timeline {Timeline}, {ElapsedMs} ms after the decision")]
    public static partial void Promoted(ILogger logger, string candidate, int? timeline, long elapsedMs);

    [LoggerMessage(EventId = 2011, Level = LogLevel.Error, Message = "Promotion of {Candidate} failed: {Error}")]
    public static partial void PromoteFailed(ILogger logger, string candidate, string error);

    [LoggerMessage(EventId = 2012, Level = LogLevel.Warning, Message = "{Candidate} had not replayed all it received within {TimeoutMs} ms; promoting anyway (promotion replays the rest)")]
    public static partial void CatchUpTimedOut(ILogger logger, string candidate, long timeoutMs);

    [LoggerMessage(EventId = 2013, Level = LogLevel.Information, Message = "synchronous_standby_names on {Member} set to '{Value}' ({Why})")]
    public static partial void SyncNamesSet(ILogger logger, string member, string value, string why);

    [LoggerMessage(EventId = 2014, Level = LogLevel.Error, Message = "Could not set synchronous_standby_names on {Member}: {Error}")]
    public static partial void SyncNamesFailed(ILogger logger, string member, string error);

    [LoggerMessage(EventId = 2015, Level = LogLevel.Information, Message = "Repointed {Member} at {Primary} (slot {Slot})")]
    public static partial void Repointed(ILogger logger, string member, string primary, string slot);

    [LoggerMessage(EventId = 2016, Level = LogLevel.Information, Message = "{Member} streams from {Primary} ({ElapsedMs} ms after the promotion)")]
    public static partial void Following(ILogger logger, string member, string primary, long elapsedMs);

    [LoggerMessage(EventId = 2017, Level = LogLevel.Warning, Message = "Could not make {Member} follow {Primary}: {Error}; retrying later")]
    public static partial void FollowFailed(ILogger logger, string member, string primary, string error);

    [LoggerMessage(EventId = 2018, Level = LogLevel.Error, Message = "{Member} answers as a primary on timeline {Timeline}, lower than timeline {Highest}: fenced (it must not take traffic; rejoin it with pg_rewind)")]
    public static partial void Fenced(ILogger logger, string member, int? timeline, int highest);

    [LoggerMessage(EventId = 2019, Level = LogLevel.Information, Message = "Member {Member}: {OldState} -> {NewState} ({Reason})")]
    public static partial void StateChanged(ILogger logger, string member, string oldState, string newState, string? reason);

    [LoggerMessage(EventId = 2020, Level = LogLevel.Information, Message = "Hook {Hook} ({Program}) succeeded in {ElapsedMs} ms: {Output}")]
    public static partial void HookSucceeded(ILogger logger, string hook, string program, long elapsedMs, string output);

    [LoggerMessage(EventId = 2021, Level = LogLevel.Warning, Message = "Hook {Hook} ({Program}) failed: {Error}: {Output}")]
    public static partial void HookFailed(ILogger logger, string hook, string program, string error, string output);

    [LoggerMessage(EventId = 2022, Level = LogLevel.Warning, Message = "Hook {Hook} ({Program}) killed after {TimeoutMs} ms")]
    public static partial void HookTimedOut(ILogger logger, string hook, string program, long timeoutMs);

    [LoggerMessage(EventId = 2023, Level = LogLevel.Warning, Message = "Member {Member} {Action} through the API")]
    public static partial void Membership(ILogger logger, string member, string action);

    [LoggerMessage(EventId = 2024, Level = LogLevel.Warning, Message = "Manual failover to {Candidate} requested")]
    public static partial void ManualFailover(ILogger logger, string candidate);

    [LoggerMessage(EventId = 2025, Level = LogLevel.Warning, Message = "Standby {Member} has wal_receiver_timeout = {TimeoutMs} ms: a frozen (not crashed) primary is confirmed dead only after that long. A few seconds is recommended.")]
    public static partial void SlowReceiverTimeout(ILogger logger, string member, int timeoutMs);

    [LoggerMessage(EventId = 2029, Level = LogLevel.Information, Message = "{Candidate} was still in recovery after the promote request: woken {WakeUps} time(s) with pg_reload_conf(), every {EveryMs} ms (PostgreSQL would otherwise wait out its wal_retrieve_retry_interval)")]
    public static partial void PromotionWoken(ILogger logger, string candidate, int wakeUps, long everyMs);

    [LoggerMessage(EventId = 2030, Level = LogLevel.Warning, Message = "Standby {Member} has wal_retrieve_retry_interval = {IntervalMs} ms: after a failed attempt to get WAL (its primary gone, or a first try at a new one) it waits that long before the next. The default 5 s or less is recommended.")]
    public static partial void SlowRetrieveRetry(ILogger logger, string member, int intervalMs);

    [LoggerMessage(EventId = 2026, Level = LogLevel.Error, Message = "Probe round failed unexpectedly")]
    public static partial void RoundFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2027, Level = LogLevel.Warning, Message = "Switchover from live primary {OldPrimary}: its commits now wait for {Candidate} (synchronous_standby_names), which must catch up to {Lsn}")]
    public static partial void Switchover(ILogger logger, string oldPrimary, string candidate, string lsn);

    [LoggerMessage(EventId = 2032, Level = LogLevel.Warning, Message = "Dropped replication slot {Slot} on {Primary}: {Member} has not followed for {Seconds} s (it is made again when {Member} is repointed)")]
    public static partial void SlotDropped(ILogger logger, string slot, string primary, string member, long seconds);

    [LoggerMessage(EventId = 2033, Level = LogLevel.Warning, Message = "Could not drop the unused replication slot {Slot} on {Primary}: {Error}; retrying")]
    public static partial void SlotDropFailed(ILogger logger, string slot, string primary, string error);

    [LoggerMessage(EventId = 2034, Level = LogLevel.Warning, Message = "{Member} does not stream from the primary {Primary} ({Why}): repointing it")]
    public static partial void NotFollowing(ILogger logger, string member, string primary, string why);

    [LoggerMessage(EventId = 2035, Level = LogLevel.Information, Message = "synchronous_standby_names on {Member} restored to '{Value}' ({Why})")]
    public static partial void SyncNamesRestored(ILogger logger, string member, string value, string why);

    [LoggerMessage(EventId = 2036, Level = LogLevel.Error, Message = "Could not restore synchronous_standby_names on {Member} to '{Value}': {Error}; its commits may wait for a standby that will not confirm them: set it by hand")]
    public static partial void SyncNamesRestoreFailed(ILogger logger, string member, string value, string error);

    [LoggerMessage(EventId = 2037, Level = LogLevel.Warning, Message = "Manual failover to {Candidate} refused: {Reason}")]
    public static partial void ManualFailoverRefused(ILogger logger, string candidate, string reason);

    [LoggerMessage(EventId = 2040, Level = LogLevel.Warning, Message = "{Member}: {Kind} ordered from its agent ({Why}); upstream {Upstream}, fencing token {Term}")]
    public static partial void AgentOrdered(ILogger logger, string member, string kind, string why, string upstream, long term);

    [LoggerMessage(EventId = 2041, Level = LogLevel.Warning, Message = "{Member}'s agent: {Kind} done in {ElapsedMs} ms: {How}; steps: {Steps}")]
    public static partial void AgentDone(ILogger logger, string member, string kind, long elapsedMs, string how, string steps);

    [LoggerMessage(EventId = 2042, Level = LogLevel.Error, Message = "{Member}'s agent: {Kind} failed: {Error}; tried again in {RetryS} s")]
    public static partial void AgentFailed(ILogger logger, string member, string kind, string error, long retryS);

    [LoggerMessage(EventId = 2043, Level = LogLevel.Warning, Message = "{Member} must rejoin {Primary} ({Why}), but {Reason}: an operator rejoins it (README: rejoining an old primary)")]
    public static partial void RejoinByHand(ILogger logger, string member, string primary, string why, string reason);

    [LoggerMessage(EventId = 2051, Level = LogLevel.Information, Message = "Term {Term} announced to the agents (they refuse lower fencing tokens from now on): {Answers}")]
    public static partial void TermAnnounced(ILogger logger, long term, string answers);

    [LoggerMessage(EventId = 2044, Level = LogLevel.Warning, Message = "Recover of {Member} requested: its agent rebuilds it from {Primary}")]
    public static partial void ManualRecover(ILogger logger, string member, string primary);

    [LoggerMessage(EventId = 2045, Level = LogLevel.Error, Message = "{Member} fenced read-only ({Why}): default_transaction_read_only on, {Sessions} client session(s) terminated")]
    public static partial void FencedReadOnly(ILogger logger, string member, string why, int sessions);

    [LoggerMessage(EventId = 2046, Level = LogLevel.Warning, Message = "Could not fence {Member} read-only: {Error}; clients that reach it directly may still write to it")]
    public static partial void FenceFailed(ILogger logger, string member, string error);

    [LoggerMessage(EventId = 2047, Level = LogLevel.Information, Message = "{Member} is a standby again: default_transaction_read_only reset")]
    public static partial void Unfenced(ILogger logger, string member);

    [LoggerMessage(EventId = 2048, Level = LogLevel.Warning, Message = "Switchover from {OldPrimary} to {Candidate}: {Step}")]
    public static partial void CleanSwitchover(ILogger logger, string oldPrimary, string candidate, string step);

    [LoggerMessage(EventId = 2049, Level = LogLevel.Warning, Message = "Failing back to the preferred primary {Member}: {Evidence}")]
    public static partial void FailingBack(ILogger logger, string member, string evidence);

    [LoggerMessage(EventId = 2050, Level = LogLevel.Warning, Message = "Failback to {Member} not done: {Why}")]
    public static partial void FailbackRefused(ILogger logger, string member, string why);
}
