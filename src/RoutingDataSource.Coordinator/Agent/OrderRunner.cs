using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using RoutingDataSource.Coordinator.Configuration;

namespace RoutingDataSource.Coordinator.Agent;

/// <summary>Why an order was not run: <see cref="Status"/> is the HTTP status the agent answers with.</summary>
internal sealed record Refusal(int Status, string Why);

/// <summary>
/// Runs one order at a time on the local server, as a named sequence of steps (each logged and reported): the
/// sequences of <see cref="AgentOrderKind"/>. A failed rewind falls back to a rebuild when the order allows it, as
/// pg_auto_failover's keeper does ("failed to rewind, trying pg_basebackup instead").
/// </summary>
internal sealed class OrderRunner(AgentOptions options, LocalServer server, TermStore terms, ILogger logger, TimeProvider time)
{
    private readonly SemaphoreSlim _one = new(1, 1);
    private volatile string? _busy;

    public string? Busy => _busy;

    public Task<LocalFacts> FactsAsync(CancellationToken ct) => server.FactsAsync(terms.Highest, _busy, ct);

    /// <summary>Why <paramref name="order"/> must not run (stale term, another member's, busy, ...), or null.</summary>
    public Refusal? Check(AgentOrder order)
    {
        if (!string.Equals(order.Member, options.Name, StringComparison.Ordinal))
            return new Refusal(403, $"this agent acts on {options.Name} only, not on {order.Member}");
        if (order.Kind is AgentOrderKind.Demote or AgentOrderKind.Rejoin or AgentOrderKind.Rebuild && order.Upstream is null)
            return new Refusal(400, $"{order.Kind} needs the upstream to stream from");
        if (order.Upstream is { } u && string.Equals(u.Name, options.Name, StringComparison.Ordinal))
            return new Refusal(400, $"{options.Name} cannot stream from itself");
        if (order.Kind == AgentOrderKind.Rejoin && order.Method == RejoinPolicy.Manual)
            return new Refusal(400, "a rejoin with method manual is for an operator, not for the agent");
        return null;
    }

    /// <summary>Runs <paramref name="order"/> unless another runs or its term is stale; null and a refusal then.</summary>
    public async Task<(AgentOrderResult? Result, Refusal? Refusal)> RunAsync(AgentOrder order, CancellationToken ct)
    {
        if (Check(order) is { } refusal)
            return (null, refusal);
        if (order.Kind == AgentOrderKind.Announce)
            return await AnnounceAsync(order, ct).ConfigureAwait(false);
        if (!await _one.WaitAsync(0, ct).ConfigureAwait(false))
            return (null, new Refusal(409, $"busy with {_busy}"));
        try
        {
            if (!terms.TryAccept(order.Term))
                return (null, Stale(order));
            _busy = $"{order.Kind} (term {order.Term}, from {order.Leader})";
            return (await RunCoreAsync(order, ct).ConfigureAwait(false), null);
        }
        finally
        {
            _busy = null;
            _one.Release();
        }
    }

    /// <summary>Records a new leader's term (nothing else): no lock, since it touches nothing but the term store.</summary>
    private async Task<(AgentOrderResult? Result, Refusal? Refusal)> AnnounceAsync(AgentOrder order, CancellationToken ct)
    {
        if (!terms.TryAccept(order.Term))
            return (null, Stale(order));
        AgentLog.Announced(logger, order.Term, order.Leader);
        var how = string.Create(CultureInfo.InvariantCulture, $"term {order.Term} of {order.Leader} recorded: orders with a lower token are refused");
        return (new AgentOrderResult(options.Name, order.Kind, order.Term, true, how, null, [], await FactsAsync(ct).ConfigureAwait(false)), null);
    }

    private Refusal Stale(AgentOrder order) =>
        new(409, string.Create(CultureInfo.InvariantCulture, $"stale fencing token {order.Term}: this agent has obeyed term {terms.Highest}; {order.Leader} no longer leads"));

    private async Task<AgentOrderResult> RunCoreAsync(AgentOrder order, CancellationToken ct)
    {
        var started = time.GetTimestamp();
        var steps = new List<string>();
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bound.CancelAfter(options.OrderTimeout);
        var before = await FactsAsync(bound.Token).ConfigureAwait(false);
        AgentLog.OrderBegins(logger, order.Kind, order.Term, order.Leader, Describe(before));
        if (before.DataDirectoryExists)
            server.KeepConfigurationCopy();
        string? how = null, error = null;
        try
        {
            how = order.Kind switch
            {
                AgentOrderKind.Start => await StartStandbyAsync(before, Note, bound.Token).ConfigureAwait(false),
                AgentOrderKind.Stop => await StopAsync("fast", Note, bound.Token).ConfigureAwait(false),
                AgentOrderKind.Restart => await RestartAsync(before, Note, bound.Token).ConfigureAwait(false),
                AgentOrderKind.Demote => await DemoteAsync(order.Upstream!, Note, bound.Token).ConfigureAwait(false),
                AgentOrderKind.Rejoin => await RejoinAsync(order.Upstream!, order.Method, before, Note, bound.Token).ConfigureAwait(false),
                AgentOrderKind.Rebuild => await RebuildAsync(order.Upstream!, Note, bound.Token).ConfigureAwait(false),
                AgentOrderKind.Resume => await ResumeAsync(before, Note, bound.Token).ConfigureAwait(false),
                _ => throw new StepFailedException($"unknown order {order.Kind}"),
            };
        }
        catch (StepFailedException e)
        {
            error = e.Message;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            error = $"not finished within OrderTimeout ({options.OrderTimeout.TotalSeconds:0} s)";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error = $"{e.GetType().Name}: {e.Message}";
        }
        var elapsed = (long)time.GetElapsedTime(started).TotalMilliseconds;
        if (error is null)
            AgentLog.OrderDone(logger, order.Kind, elapsed, how!);
        else
            AgentLog.OrderFailed(logger, order.Kind, elapsed, error);
        var after = await FactsAsync(CancellationToken.None).ConfigureAwait(false);
        return new AgentOrderResult(options.Name, order.Kind, order.Term, error is null, how, error, steps, after);

        void Note(string step)
        {
            steps.Add(string.Create(CultureInfo.InvariantCulture, $"+{(long)time.GetElapsedTime(started).TotalMilliseconds} ms {step}"));
            AgentLog.Step(logger, order.Kind, step);
        }
    }

    private async Task<string> StartStandbyAsync(LocalFacts facts, Action<string> note, CancellationToken ct)
    {
        if (facts.Running)
            return "already running";
        if (!facts.StandbySignal)
            throw new StepFailedException("refused: the data directory has no standby.signal, and an agent never starts a primary (order a rejoin or a demote)");
        await StartAsync(note, ct).ConfigureAwait(false);
        return "started as a standby";
    }

    private async Task<string> ResumeAsync(LocalFacts facts, Action<string> note, CancellationToken ct)
    {
        if (facts.Running)
            return "already running";
        if (facts.StandbySignal || facts.ClusterState != "shut down")
            throw new StepFailedException($"refused: only a primary shut down cleanly is resumed (control file '{facts.ClusterState}', {(facts.StandbySignal ? "standby.signal" : "no standby.signal")})");
        await StartAsync(note, ct).ConfigureAwait(false);
        return "resumed as the primary";
    }

    private async Task<string> RestartAsync(LocalFacts facts, Action<string> note, CancellationToken ct)
    {
        if (!facts.StandbySignal)
            throw new StepFailedException("refused: the data directory has no standby.signal, and an agent never starts a primary");
        await StopAsync("fast", note, ct).ConfigureAwait(false);
        await StartAsync(note, ct).ConfigureAwait(false);
        return "restarted as a standby";
    }

    /// <summary>After a switchover: the clean shutdown wrote a checkpoint the new primary has received, so the server follows it without a rewind.</summary>
    private async Task<string> DemoteAsync(Upstream upstream, Action<string> note, CancellationToken ct)
    {
        await StopAsync("fast", note, ct).ConfigureAwait(false);
        await ConfigureAsync(upstream, server.OwnConfiguration(), note, ct).ConfigureAwait(false);
        if (await StartStreamingAsync(upstream, note, ct).ConfigureAwait(false) is { } problem)
            throw new StepFailedException($"demoted, but it does not stream from {upstream.Name}: {problem} (its history diverged: order a rejoin)");
        return $"demoted: streams from {upstream.Name} (no rewind)";
    }

    private async Task<string> RejoinAsync(Upstream upstream, RejoinPolicy method, LocalFacts facts, Action<string> note, CancellationToken ct)
    {
        if (!facts.DataDirectoryExists)
        {
            note($"no data directory to rewind ({facts.Problem})");
            return method == RejoinPolicy.Rewind
                ? throw new StepFailedException($"nothing to rewind ({facts.Problem}) and the method is rewind only")
                : await RebuildAsync(upstream, note, ct).ConfigureAwait(false);
        }
        // Immediately, not cleanly: a shutdown checkpoint would recycle WAL back to the fork, which pg_rewind reads.
        await StopAsync("immediate", note, ct).ConfigureAwait(false);
        var own = server.OwnConfiguration();
        string problem;
        if (!facts.Rewindable)
        {
            problem = $"pg_rewind cannot be used: wal_log_hints is {(facts.WalLogHints == true ? "on" : "off")} and data checksums are {(facts.DataChecksums == true ? "on" : "off")} in the control file";
            note(problem);
        }
        else
        {
            note($"pg_rewind can be used (wal_log_hints {(facts.WalLogHints == true ? "on" : "off")}, data checksums {(facts.DataChecksums == true ? "on" : "off")})");
            await server.KeepWalThroughRecoveryAsync(ct).ConfigureAwait(false);
            var rewind = await server.RewindAsync(ConnInfo(RewindTemplate(), upstream), options.OrderTimeout, ct).ConfigureAwait(false);
            if (rewind.Succeeded)
            {
                note("pg_rewind: " + rewind.Tail(2));
                await ConfigureAsync(upstream, own, note, ct).ConfigureAwait(false);
                if (await StartStreamingAsync(upstream, note, ct).ConfigureAwait(false) is not { } startProblem)
                    return $"rewound: streams from {upstream.Name}";
                problem = "the rewound server does not stream: " + startProblem;
                await StopAsync("immediate", note, ct).ConfigureAwait(false);
            }
            else
            {
                problem = string.Create(CultureInfo.InvariantCulture, $"pg_rewind failed (exit {rewind.ExitCode}): {rewind.Tail(4)}");
                note(problem);
                await ConfigureAsync(upstream, own, note, ct).ConfigureAwait(false); // its own files back, without wal_keep_size
            }
        }
        if (method == RejoinPolicy.Rewind)
            throw new StepFailedException(problem + " (the method is rewind only: no rebuild)");
        note("falling back to a rebuild");
        return await RebuildAsync(upstream, note, ct).ConfigureAwait(false) + $" after: {problem}";
    }

    /// <summary>
    /// pg_basebackup into the <c>.new</c> sibling while the old server may still run, then the swap: the old
    /// directory aside (<c>.old</c>), the new one in its place with the server's own configuration, start; the old one
    /// is removed once the new one streams, and put back when it does not.
    /// </summary>
    private async Task<string> RebuildAsync(Upstream upstream, Action<string> note, CancellationToken ct)
    {
        var own = server.OwnConfiguration();
        if (own.Count == 0)
            throw new StepFailedException($"no configuration files of {options.Name} to put back (neither in {server.DataDirectory} nor in {server.ConfigurationCopy}): a copy would run with the primary's settings");
        if (Directory.Exists(server.NewDirectory))
            Directory.Delete(server.NewDirectory, recursive: true);
        var backup = await server.BaseBackupAsync(ConnInfo(ReplicationTemplate(), upstream), upstream.Slot, options.OrderTimeout, ct).ConfigureAwait(false);
        if (!backup.Succeeded)
        {
            if (Directory.Exists(server.NewDirectory))
                Directory.Delete(server.NewDirectory, recursive: true);
            throw new StepFailedException(string.Create(CultureInfo.InvariantCulture, $"pg_basebackup from {upstream.Name} failed (exit {backup.ExitCode}): {backup.Tail(4)}"));
        }
        note($"pg_basebackup from {upstream.Name} through slot {upstream.Slot} into {server.NewDirectory}");
        await StopAsync("immediate", note, ct).ConfigureAwait(false);
        var hadOld = Directory.Exists(server.DataDirectory);
        if (hadOld)
        {
            LocalServer.Replace(server.DataDirectory, server.AsideDirectory);
            note($"old data directory kept aside as {server.AsideDirectory}");
        }
        Directory.Move(server.NewDirectory, server.DataDirectory);
        await ConfigureAsync(upstream, own, note, ct).ConfigureAwait(false);
        if (await StartStreamingAsync(upstream, note, ct).ConfigureAwait(false) is { } problem)
        {
            await StopAsync("immediate", note, ct).ConfigureAwait(false);
            if (hadOld)
            {
                LocalServer.Replace(server.DataDirectory, server.NewDirectory);
                Directory.Move(server.AsideDirectory, server.DataDirectory);
                note($"old data directory put back; the failed copy is in {server.NewDirectory}");
            }
            throw new StepFailedException($"the rebuilt server does not stream from {upstream.Name}: {problem}");
        }
        if (hadOld)
        {
            Directory.Delete(server.AsideDirectory, recursive: true);
            note($"{server.AsideDirectory} removed: the new copy streams");
        }
        server.KeepConfigurationCopy();
        return $"rebuilt: streams from {upstream.Name}";
    }

    private async Task ConfigureAsync(Upstream upstream, Dictionary<string, byte[]> own, Action<string> note, CancellationToken ct)
    {
        await server.WriteStandbyConfigurationAsync(own, ConnInfo(ReplicationTemplate(), upstream), upstream.Slot, ct).ConfigureAwait(false);
        note(string.Create(CultureInfo.InvariantCulture, $"own configuration put back ({own.Count} files); standby.signal, primary_conninfo -> {upstream.Name} {upstream.Host}:{upstream.Port} as {options.Name}, primary_slot_name {upstream.Slot}"));
    }

    private async Task<string> StopAsync(string mode, Action<string> note, CancellationToken ct)
    {
        var pid = server.PostmasterPid();
        if (pid is null)
        {
            note("not running");
            return "not running";
        }
        var result = await server.StopAsync(mode, ct).ConfigureAwait(false);
        if (!result.Succeeded || server.PostmasterPid() is not null)
            throw new StepFailedException(string.Create(CultureInfo.InvariantCulture, $"pg_ctl stop -m {mode} failed (exit {result.ExitCode}): {result.Tail(4)}"));
        note(string.Create(CultureInfo.InvariantCulture, $"stopped ({mode}, postmaster {pid})"));
        return $"stopped ({mode})";
    }

    private async Task StartAsync(Action<string> note, CancellationToken ct)
    {
        var result = await server.StartAsync(ct).ConfigureAwait(false);
        if (!result.Succeeded || server.PostmasterPid() is not { } pid)
            throw new StepFailedException(string.Create(CultureInfo.InvariantCulture, $"pg_ctl start failed (exit {result.ExitCode}): {result.Tail(4)}; see {options.ServerLogPath}"));
        note(string.Create(CultureInfo.InvariantCulture, $"started (postmaster {pid})"));
    }

    /// <summary>Starts the server and waits (bounded) until its WAL receiver streams; the reason when it does not.</summary>
    private async Task<string?> StartStreamingAsync(Upstream upstream, Action<string> note, CancellationToken ct)
    {
        var logStart = server.LogLength();
        var result = await server.StartAsync(ct).ConfigureAwait(false);
        var clock = Stopwatch.StartNew();
        var seen = 0;
        while (true)
        {
            if (server.HopelessSince(logStart) is { } line)
                return "its log says: " + line.Trim();
            var pid = server.PostmasterPid();
            if (pid is null)
                return result.Succeeded ? "the server stopped" : string.Create(CultureInfo.InvariantCulture, $"pg_ctl start failed (exit {result.ExitCode}): {result.Tail(3)}");
            var facts = await server.FactsAsync(terms.Highest, _busy, ct).ConfigureAwait(false);
            // Several polls in a row: a receiver whose upstream refuses its timeline connects, then exits.
            seen = facts.Streaming ? seen + 1 : 0;
            if (seen >= 3)
            {
                note(string.Create(CultureInfo.InvariantCulture, $"started (postmaster {pid}); its WAL receiver streams from {upstream.Name} after {clock.ElapsedMilliseconds} ms"));
                return null;
            }
            if (clock.Elapsed > options.StreamTimeout)
                return $"no streaming WAL receiver within {options.StreamTimeout.TotalSeconds:0} s (see {options.ServerLogPath})";
            await Task.Delay(TimeSpan.FromMilliseconds(100), time, ct).ConfigureAwait(false);
        }
    }

    private string ReplicationTemplate() => options.ReplicationConnInfo!;

    private string RewindTemplate() => options.RewindConnInfo ?? options.ReplicationConnInfo + " dbname=postgres";

    private string ConnInfo(string template, Upstream upstream) =>
        ReplicationConnInfo.Render(template, upstream.Host, upstream.Port, options.Name);

    internal static string Describe(LocalFacts f) => f.DataDirectoryExists
        ? string.Create(CultureInfo.InvariantCulture,
            $"{(f.Running ? $"running (postmaster {f.PostmasterPid})" : "not running")}, control file '{f.ClusterState}' on timeline {f.Timeline}, system {f.SystemIdentifier}, {(f.StandbySignal ? "standby.signal" : "no standby.signal")}{(f.Streaming ? ", streaming" : "")}")
        : f.Problem ?? "no data directory";

    private sealed class StepFailedException(string message) : Exception(message);
}
