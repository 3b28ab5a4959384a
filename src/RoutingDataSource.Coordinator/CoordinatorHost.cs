using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RoutingDataSource.Coordinator.Cluster;
using RoutingDataSource.Coordinator.Configuration;
using RoutingDataSource.Coordinator.Diagnostics;
using RoutingDataSource.Coordinator.Http;

namespace RoutingDataSource.Coordinator;

/// <summary>
/// A running coordinator: the probe-and-decide loop and its HTTP API, on a Microsoft.Extensions.Hosting host. What
/// <c>routing-coordinator run</c> runs; also usable in-process (tests, demos).
/// </summary>
/// <example>
/// <code>
/// var options = new CoordinatorOptions { ReplicationConnInfo = "host={host} port={port} user=replicator application_name={name}", Http = "127.0.0.1:0" };
/// options.Backends.Add(new CoordinatorBackend { Name = "n0", ConnectionString = "Host=10.0.0.1;Username=coordinator" });
/// options.Backends.Add(new CoordinatorBackend { Name = "n1", ConnectionString = "Host=10.0.0.2;Username=coordinator" });
/// await using var coordinator = await CoordinatorHost.StartAsync(options);
/// Console.WriteLine($"API on {coordinator.Address}, primary {coordinator.PrimaryName}");
/// </code>
/// </example>
public sealed class CoordinatorHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;
    private int _disposed;
    private LeaderForwarding? _forwarding;
    private PrometheusMetrics? _metrics;

    private CoordinatorHost(WebApplication app, FailoverCoordinator coordinator)
    {
        _app = app;
        Coordinator = coordinator;
    }

    /// <summary>The HTTP API's base address, with the real port when port 0 was configured.</summary>
    public Uri Address { get; private set; } = null!;

    /// <summary>In HA mode, whether this coordinator leads now (alone: always true).</summary>
    public bool IsLeader => Coordinator.Ha?.IsLeader ?? true;

    /// <summary>The primary in the coordinator's latest view, or null when there is none (or no probe round finished yet).</summary>
    public string? PrimaryName => Coordinator.View.Primary;

    internal FailoverCoordinator Coordinator { get; }

    /// <summary>
    /// Validates <paramref name="options"/>, starts the probe loop and the HTTP API, and returns once the API listens.
    /// Logs go to <paramref name="loggerFactory"/> (none when null).
    /// </summary>
    /// <exception cref="OptionsValidationException">The options are invalid; <see cref="OptionsValidationException.Failures"/> lists every problem.</exception>
    public static Task<CoordinatorHost> StartAsync(CoordinatorOptions options, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default) =>
        StartAsync(options, loggerFactory, TimeProvider.System, cancellationToken);

    internal static async Task<CoordinatorHost> StartAsync(CoordinatorOptions options, ILoggerFactory? loggerFactory, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = CoordinatorOptionsValidator.Problems(options);
        if (problems.Count > 0)
            throw new OptionsValidationException(CoordinatorOptions.SectionName, typeof(CoordinatorOptions), problems);
        ListenAddress.TryParse(options.Http, out var listen, out _);
        loggerFactory ??= NullLoggerFactory.Instance;

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ApplicationName = "routing-coordinator",
            ContentRootPath = AppContext.BaseDirectory,
            Args = [],
        });
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggerFactory);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(10));
        builder.WebHost.UseKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(listen.Address, listen.Port);
        });
        var app = builder.Build();
        var coordinator = new FailoverCoordinator(options, loggerFactory, time);
        var forwarding = coordinator.Ha is { } ha ? new LeaderForwarding(ha) : null;
        var metrics = new PrometheusMetrics(() => coordinator.Ha?.Election is { } election
            ? [coordinator.Metrics.Meter, election.Metrics.Meter]
            : [coordinator.Metrics.Meter]);
        var host = new CoordinatorHost(app, coordinator) { _forwarding = forwarding, _metrics = metrics };
        Api.Map(app, coordinator, options.ApiToken, listen.IsLoopback, () => host.Address?.Authority ?? options.Http, forwarding, metrics);
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault();
            host.Address = new Uri(bound ?? $"http://{listen}");
            Log.Listening(coordinator.Logger, host.Address);
            if (coordinator.Ha is { } campaign)
                campaign.Start(host.Address.Authority);
            else
                Ha.HaLog.Alone(coordinator.Logger, options.Name);
            host._loop = Task.Run(() => coordinator.RunAsync(host._stop.Token), CancellationToken.None);
        }
        catch
        {
            await host.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return host;
    }

    /// <summary>Runs until the process is asked to stop (Ctrl-C, SIGTERM) or <paramref name="cancellationToken"/> fires.</summary>
    internal async Task WaitForShutdownAsync(CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stop.Token);
        await _app.WaitForShutdownAsync(linked.Token).ConfigureAwait(false);
    }

    /// <summary>Stops the loop and the API, waits for running repoints and hooks (bounded), and closes the connections.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
            return;
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
            await _loop.ConfigureAwait(false);
        try
        {
            await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        await _app.DisposeAsync().ConfigureAwait(false);
        await Coordinator.DisposeAsync().ConfigureAwait(false);
        _forwarding?.Dispose();
        _metrics?.Dispose();
        _stop.Dispose();
    }
}
