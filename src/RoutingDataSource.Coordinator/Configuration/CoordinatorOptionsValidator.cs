using RoutingDataSource.Coordinator.Actions;
using RoutingDataSource.Coordinator.Cluster;
using RoutingDataSource.Coordinator.Ha;
using RoutingDataSource.Topology;

namespace RoutingDataSource.Coordinator.Configuration;

/// <summary>Every problem of a <see cref="CoordinatorOptions"/>, each as one sentence naming its setting.</summary>
internal static class CoordinatorOptionsValidator
{
    public static IReadOnlyList<string> Problems(CoordinatorOptions options)
    {
        var problems = new List<string>();
        if (options.Backends.Count < 2)
            problems.Add($"Backends: at least two are needed (a primary and a standby to promote); {options.Backends.Count} configured.");
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var slots = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < options.Backends.Count; i++)
        {
            var b = options.Backends[i];
            var at = $"Backends[{i}]";
            if (string.IsNullOrWhiteSpace(b.Name))
            {
                problems.Add($"{at}:Name is required.");
            }
            else
            {
                at = $"Backends[{i}] ({b.Name})";
                if (!b.Name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.') || b.Name.Length > 63)
                    problems.Add($"{at}:Name may hold only letters, digits, '_', '-' and '.' (at most 63): it becomes an application_name and a slot name.");
                else if (b.Name[0] == '-')
                    problems.Add($"{at}:Name must not start with '-': as a hook's or the CLI's argument it would read as an option.");
                else if (!names.Add(b.Name))
                    problems.Add($"{at}:Name is used twice (names are compared without case, as in synchronous_standby_names).");
                else if (slots.TryGetValue(Member.SlotNameFor(b.Name), out var other))
                    problems.Add($"{at}:Name gives the same replication slot name as {other}.");
                else
                    slots[Member.SlotNameFor(b.Name)] = b.Name;
            }
            if (!BackendConnectionString.TryParse(b.ConnectionString, out var csb, out var error))
            {
                problems.Add($"{at}:ConnectionString: {error}");
            }
            else
            {
                if (string.IsNullOrWhiteSpace(csb.Host))
                    problems.Add($"{at}:ConnectionString has no Host.");
                else if (csb.Host.Contains(',', StringComparison.Ordinal))
                    problems.Add($"{at}:ConnectionString names several hosts: one server per backend.");
                if (csb.TargetSessionAttributes is { Length: > 0 })
                    problems.Add($"{at}:ConnectionString must not set Target Session Attributes: the coordinator probes each server itself.");
            }
            if (b.Priority < 0)
                problems.Add($"{at}:Priority must be 0 (never promote) or more; it is {b.Priority}.");
            if (b.ReplicationPort is { } rp && (rp <= 0 || rp > 65535))
                problems.Add($"{at}:ReplicationPort {rp} is not a TCP port.");
            if (b.Agent is { } agent && !(Uri.TryCreate(agent, UriKind.Absolute, out var agentUri) && agentUri.Scheme is "http" or "https"))
                problems.Add($"{at}:Agent '{agent}' is not an http(s) address, e.g. http://127.0.0.1:8010.");
        }
        if (options.Backends.Count >= 2 && options.Backends.All(b => b.Priority <= 0))
            problems.Add("Backends: every Priority is 0, so no standby could ever be promoted.");

        if (options.PreferredPrimary is { } preferred && !options.Backends.Any(b => string.Equals(b.Name, preferred, StringComparison.Ordinal)))
            problems.Add($"PreferredPrimary '{preferred}' is not one of the Backends.");
        if (options.Backends.Any(b => b.Agent is not null) && options.AgentToken is not { Length: >= 16 })
            problems.Add("AgentToken (at least 16 characters) is required when a backend has an Agent: the agents obey no order without it.");
        problems.AddRange(ReplicationConnInfo.Problems(options.ReplicationConnInfo));
        problems.AddRange(EtcdOptionsValidator.Problems(options));

        Positive(options.ProbeInterval, "ProbeInterval", problems);
        Positive(options.ProbeTimeout, "ProbeTimeout", problems);
        Positive(options.RetryInterval, "RetryInterval", problems);
        Positive(options.CatchUpTimeout, "CatchUpTimeout", problems);
        Positive(options.PromoteTimeout, "PromoteTimeout", problems);
        Positive(options.FollowTimeout, "FollowTimeout", problems);
        Positive(options.UnusedSlotTimeout, "UnusedSlotTimeout", problems);
        Positive(options.Hooks.Timeout, "Hooks:Timeout", problems);
        if (options.RetryInterval > options.ProbeInterval)
            problems.Add($"RetryInterval ({options.RetryInterval.TotalMilliseconds:0} ms) must not exceed ProbeInterval ({options.ProbeInterval.TotalMilliseconds:0} ms).");
        if (options.FailureThreshold < 1)
            problems.Add($"FailureThreshold must be 1 or more; it is {options.FailureThreshold}.");

        if (!ListenAddress.TryParse(options.Http, out var listen, out var httpError))
            problems.Add(httpError!);
        else if (!listen.IsLoopback && options.ApiToken is null)
            problems.Add($"Http {options.Http} is not a loopback address: set ApiToken so that nobody else can trigger a failover.");

        foreach (var (name, command) in new[] { ("Hooks:OnFailover", options.Hooks.OnFailover), ("Hooks:OnFence", options.Hooks.OnFence) })
        {
            if (command is not null && !HookCommand.TryParse(command, out _, out var hookError))
                problems.Add($"{name}: {hookError}.");
        }
        return problems;
    }

    private static void Positive(TimeSpan value, string name, List<string> problems)
    {
        if (value <= TimeSpan.Zero)
            problems.Add($"{name} must be positive; it is {value}.");
    }
}
