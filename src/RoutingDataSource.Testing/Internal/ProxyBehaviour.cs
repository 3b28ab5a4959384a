namespace RoutingDataSource.Testing.Internal;

/// <summary>What a <see cref="FaultProxy"/> does with traffic.</summary>
internal enum ProxyMode
{
    Forward,
    Blackhole,
    Reject,
}

/// <summary>
/// One immutable setting of the proxy. Replacing it completes <see cref="Superseded"/>, which
/// wakes the pumps held by a blackhole so that they look at the new setting.
/// </summary>
internal sealed class ProxyBehaviour
{
    private readonly TaskCompletionSource _superseded = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ProxyBehaviour(ProxyMode mode, TimeSpan latency)
    {
        Mode = mode;
        Latency = latency;
    }

    public ProxyMode Mode { get; }

    public TimeSpan Latency { get; }

    public Task Superseded => _superseded.Task;

    public static ProxyBehaviour Forward(TimeSpan latency) => new(ProxyMode.Forward, latency);

    public static ProxyBehaviour Blackhole() => new(ProxyMode.Blackhole, TimeSpan.Zero);

    public static ProxyBehaviour Reject() => new(ProxyMode.Reject, TimeSpan.Zero);

    public void Supersede() => _superseded.TrySetResult();
}
