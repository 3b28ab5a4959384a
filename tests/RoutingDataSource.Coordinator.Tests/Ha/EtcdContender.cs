using Microsoft.Extensions.Logging;
using RoutingDataSource.Coordinator.Ha;

namespace RoutingDataSource.Coordinator.Tests.Ha;

/// <summary>
/// One coordinator's election, on its own connection to a real etcd: started, crashed (its loop stops without
/// resigning, as when the process dies: its lease runs out in etcd) or disposed by the test, always stopped.
/// </summary>
internal sealed class EtcdContender : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;

    public EtcdContender(string name, IEnumerable<string> endpoints, string prefix, TimeSpan ttl, ILoggerFactory logging, TimeProvider? time = null, (string User, string Password)? credentials = null)
    {
        var options = new CoordinatorEtcdOptions { Prefix = prefix, LeaseTtl = ttl, Username = credentials?.User, Password = credentials?.Password };
        foreach (var endpoint in endpoints)
            options.Endpoints.Add(endpoint);
        Keys = new HaKeys(prefix);
        Connection = new EtcdConnection(options, LeaseDeadline.RequestTimeout(ttl));
        Election = new LeaderElection(Connection, Keys, name, $"127.0.0.1:80{name.Length}", ttl, time ?? TimeProvider.System, logging.CreateLogger($"election.{name}"));
        Store = new ClusterStateStore(Connection, Keys);
    }

    public string Name => Election.Name;

    public HaKeys Keys { get; }

    public EtcdConnection Connection { get; }

    public LeaderElection Election { get; }

    public ClusterStateStore Store { get; }

    public bool IsLeader => Election.IsLeader;

    public EtcdContender Start()
    {
        _loop = Task.Run(() => Election.RunAsync(_stop.Token));
        return this;
    }

    /// <summary>One election cycle driven by the test, retried while etcd does not answer in time (a busy machine), as the loop would.</summary>
    public async Task StepAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                await Election.StepAsync(cancellationToken);
                return;
            }
            catch (Exception e) when (EtcdConnection.IsUnavailable(e) && !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(50, cancellationToken);
            }
        }
    }

    /// <summary>The process dies: no more renewals, no resignation.</summary>
    public async Task CrashAsync()
    {
        await _stop.CancelAsync();
        if (_loop is not null)
            await _loop;
    }

    public async ValueTask DisposeAsync()
    {
        await CrashAsync();
        Election.Dispose();
        Connection.Dispose();
        _stop.Dispose();
    }
}

/// <summary>
/// The time of a process that a test pauses right after it checked its deadline (a GC pause, SIGSTOP): the clock can
/// be stopped, and timers never fire. Only for elections driven step by step (<see cref="LeaderElection.StepAsync"/>).
/// </summary>
internal sealed class PausableTime : TimeProvider
{
    private long? _frozenAt;

    public void Freeze() => _frozenAt = System.GetTimestamp();

    public override long GetTimestamp() => _frozenAt ?? System.GetTimestamp();

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) => new SilentTimer();

    private sealed class SilentTimer : ITimer
    {
        public bool Change(TimeSpan dueTime, TimeSpan period) => true;

        public void Dispose()
        {
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
