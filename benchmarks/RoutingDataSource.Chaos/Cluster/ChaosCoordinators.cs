using System.Globalization;
using System.Text;
using System.Text.Json;
using RoutingDataSource.Coordinator;
using RoutingDataSource.Coordinator.Ha;
using RoutingDataSource.Testing;

namespace RoutingDataSource.Chaos.Cluster;

/// <summary>
/// The soak's coordinators: one alone (no etcd), or three (c1, c2, c3) in HA mode on a 3-member
/// <see cref="LocalEtcdCluster"/>, each reaching etcd through a route of its own (so that the leader alone can be cut
/// off). A sampler thread reads every running coordinator's own view of whether it leads every 20 ms and counts the
/// samples in which two did at once. Disposal stops the coordinators, then etcd.
/// </summary>
internal sealed class ChaosCoordinators : IAsyncDisposable
{
    public const string Prefix = "/chaos/main";
    private static readonly TimeSpan SamplePeriod = TimeSpan.FromMilliseconds(20);

    private readonly Func<string, CoordinatorOptions> _options;
    private readonly LogFile _log;
    private readonly Dictionary<string, CoordinatorHost> _hosts = new(StringComparer.Ordinal);
    private readonly Dictionary<string, LocalEtcdRoute> _routes = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly HashSet<string> _cut = new(StringComparer.Ordinal);
    private readonly RunClock _clock;
    private Thread? _sampler;
    private volatile bool _stopSampling;
    private string? _lastLeader;
    private string? _lastPrimary;

    private ChaosCoordinators(int count, LocalEtcdCluster? etcd, Func<string, CoordinatorOptions> options, LogFile log, RunClock clock)
    {
        Count = count;
        Etcd = etcd;
        _options = options;
        _log = log;
        _clock = clock;
    }

    /// <summary>1 (alone) or 3 (HA mode on etcd).</summary>
    public int Count { get; }

    public bool IsHa => Etcd is not null;

    public LocalEtcdCluster? Etcd { get; }

    /// <summary>"c1" alone; "c1", "c2", "c3" in HA mode.</summary>
    public IReadOnlyList<string> Names => [.. Enumerable.Range(1, Count).Select(i => "c" + i.ToString(CultureInfo.InvariantCulture))];

    public long LeaderSamples { get; private set; }

    /// <summary>Samples in which two or more coordinators considered themselves leader.</summary>
    public long TwoLeaderSamples { get; private set; }

    /// <summary>The first few such moments, for the report.</summary>
    public List<string> TwoLeaderMoments { get; } = [];

    /// <summary>How often the leader changed (a sample naming another leader than the last one seen).</summary>
    public int LeaderChanges { get; private set; }

    /// <summary>The leading coordinator now (alone: the one), or null.</summary>
    public string? LeaderName
    {
        get
        {
            lock (_lock)
                return _hosts.Where(h => h.Value.IsLeader).Select(h => h.Key).FirstOrDefault();
        }
    }

    /// <summary>The primary the leader names; while nobody leads, the last one a leader named (followers only mirror it).</summary>
    public string? PrimaryName
    {
        get
        {
            lock (_lock)
            {
                if (_hosts.Values.FirstOrDefault(h => h.IsLeader) is { } leader)
                    _lastPrimary = leader.PrimaryName;
                return _lastPrimary;
            }
        }
    }

    /// <summary>The leading coordinator now, or null (for operations only the leader runs, and its view).</summary>
    public CoordinatorHost? Leader
    {
        get
        {
            lock (_lock)
                return _hosts.Values.FirstOrDefault(h => h.IsLeader);
        }
    }

    public bool IsRunning(string name)
    {
        lock (_lock)
            return _hosts.ContainsKey(name);
    }

    public bool IsCutFromEtcd(string name)
    {
        lock (_lock)
            return _cut.Contains(name);
    }

    /// <summary>"c1 at http://..., c2 ..." for the progress line.</summary>
    public string Describe()
    {
        lock (_lock)
            return string.Join(", ", _hosts.Select(h => $"{h.Key} at {h.Value.Address}")) + (IsHa ? $" on {Etcd}" : " (alone, no etcd)");
    }

    public static async Task<ChaosCoordinators> StartAsync(int count, Func<string, CoordinatorOptions> options, LogFile log, RunClock clock, CancellationToken cancellationToken)
    {
        if (count is not (1 or 3))
            throw new ArgumentOutOfRangeException(nameof(count), count, "The soak runs 1 coordinator (alone) or 3 (HA mode on etcd).");
        var etcd = count == 3 ? await LocalEtcdCluster.StartAsync(new LocalEtcdClusterOptions { Members = 3, NamePrefix = "chaos-" }, cancellationToken) : null;
        var coordinators = new ChaosCoordinators(count, etcd, options, log, clock);
        try
        {
            foreach (var name in coordinators.Names)
                await coordinators.StartAsync(name, cancellationToken);
            coordinators._sampler = new Thread(coordinators.Sample) { IsBackground = true, Name = "leader sampler" };
            coordinators._sampler.Start();
            return coordinators;
        }
        catch
        {
            await coordinators.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts (or restarts) coordinator <paramref name="name"/>; in HA mode through a new route to etcd.</summary>
    public async Task StartAsync(string name, CancellationToken cancellationToken)
    {
        var options = _options(name);
        options.Name = name;
        if (Etcd is { } etcd)
        {
            if (_routes.Remove(name, out var old))
                await old.DisposeAsync();
            var route = etcd.OpenRoute();
            _routes[name] = route;
            lock (_lock)
                _cut.Remove(name);
            options.Etcd = new CoordinatorEtcdOptions { Prefix = Prefix };
            foreach (var endpoint in route.Endpoints)
                options.Etcd.Endpoints.Add(endpoint);
        }

        var host = await CoordinatorHost.StartAsync(options, _log.Named(name), cancellationToken);
        lock (_lock)
            _hosts[name] = host;
    }

    /// <summary>
    /// The coordinator's process dies (as the HA tests kill one): cut off from etcd first so that no resignation gets
    /// through, its guard's crash switch thrown (no further step, renewal or state write), then stopped.
    /// </summary>
    public async Task KillAsync(string name)
    {
        CoordinatorHost host;
        lock (_lock)
        {
            host = _hosts[name];
            _hosts.Remove(name);
        }

        if (_routes.TryGetValue(name, out var route))
            route.Blackhole();
        host.Coordinator.Ha?.CrashForTests();
        await host.DisposeAsync();
    }

    /// <summary>Blackholes <paramref name="name"/>'s route to every etcd member (it still reaches PostgreSQL).</summary>
    public void CutFromEtcd(string name)
    {
        lock (_lock)
            _cut.Add(name);
        _routes[name].Blackhole();
    }

    public void HealEtcdRoute(string name)
    {
        _routes[name].Heal();
        lock (_lock)
            _cut.Remove(name);
    }

    /// <summary>What is missing for the coordinators to be whole: all running, reaching etcd, one leader; "" when whole.</summary>
    public string Missing()
    {
        foreach (var name in Names)
        {
            if (!IsRunning(name))
                return $"coordinator {name} is not running";
            if (IsCutFromEtcd(name))
                return $"coordinator {name} is cut off from etcd";
        }

        if (Etcd is { } etcd && etcd.Members.FirstOrDefault(m => !m.IsRunning) is { } down)
            return $"etcd member {down.Name} is not running";
        lock (_lock)
        {
            if (_hosts.Values.Any(h => h.Coordinator.Ha is { EtcdProblem: not null }))
                return "a coordinator does not reach etcd yet";
            var leaders = _hosts.Count(h => h.Value.IsLeader);
            if (leaders != 1)
                return $"{leaders} coordinators lead";
            if (IsHa && _hosts.Values.Any(h => h.Coordinator.Ha!.Coordinators.Count != Count))
                return "a coordinator does not see all the others in etcd";
        }

        return "";
    }

    /// <summary>
    /// The primary the leader's durable state in etcd names (<c>{Prefix}/state/primary</c>), read from a running member
    /// directly through etcd's JSON gateway, around every proxy; null when there is none or etcd does not answer.
    /// </summary>
    public async Task<string?> DurablePrimaryAsync(CancellationToken cancellationToken)
    {
        if (Etcd is not { } etcd)
            return null;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var key = Convert.ToBase64String(Encoding.UTF8.GetBytes(Prefix + "/state/primary"));
        foreach (var member in etcd.Members.Where(m => m.IsRunning && !m.IsFrozen))
        {
            try
            {
                using var body = new StringContent($"{{\"key\":\"{key}\"}}", Encoding.UTF8, "application/json");
                using var response = await http.PostAsync(member.DirectEndpoint + "/v3/kv/range", body, cancellationToken);
                if (!response.IsSuccessStatusCode)
                    continue;
                using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
                if (!json.RootElement.TryGetProperty("kvs", out var kvs) || kvs.GetArrayLength() == 0)
                    return null;
                var value = Convert.FromBase64String(kvs[0].GetProperty("value").GetString()!);
                using var document = JsonDocument.Parse(value);
                return document.RootElement.GetProperty("name").GetString();
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException or FormatException or KeyNotFoundException)
            {
                // The next member.
            }
        }

        return null;
    }

    public async ValueTask DisposeAsync()
    {
        _stopSampling = true;
        _sampler?.Join(TimeSpan.FromSeconds(5));
        List<CoordinatorHost> hosts;
        lock (_lock)
        {
            hosts = [.. _hosts.Values];
            _hosts.Clear();
        }

        try
        {
            foreach (var host in hosts)
                await host.DisposeAsync();
            foreach (var route in _routes.Values)
                await route.DisposeAsync();
        }
        finally
        {
            if (Etcd is not null)
                await Etcd.DisposeAsync();
        }
    }

    private void Sample()
    {
        while (!_stopSampling)
        {
            List<string> leaders;
            lock (_lock)
                leaders = [.. _hosts.Where(h => h.Value.IsLeader).Select(h => h.Key)];
            LeaderSamples++;
            if (leaders.Count > 1)
            {
                TwoLeaderSamples++;
                if (TwoLeaderMoments.Count < 10)
                    TwoLeaderMoments.Add(string.Create(CultureInfo.InvariantCulture, $"{_clock.Now:0.000} s: {string.Join(" and ", leaders)}"));
            }

            if (leaders.Count == 1 && leaders[0] != _lastLeader)
            {
                if (_lastLeader is not null)
                    LeaderChanges++;
                _lastLeader = leaders[0];
            }

            Thread.Sleep(SamplePeriod);
        }
    }
}
