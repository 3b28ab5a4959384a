using System.Globalization;
using Microsoft.Extensions.Configuration;
using RoutingDataSource.Coordinator.Ha;

namespace RoutingDataSource.Coordinator.Configuration;

/// <summary>
/// Reads the <c>Coordinator</c> section into <see cref="CoordinatorOptions"/> by hand rather than through the binder,
/// so that every problem (unknown key, unreadable value, invalid combination) is reported at once, each with its key.
/// </summary>
internal static class CoordinatorConfiguration
{
    private static readonly string[] TopLevelKeys =
    [
        "Backends", "ReplicationConnInfo", "ProbeInterval", "ProbeTimeout", "FailureThreshold", "RetryInterval", "Http",
        "ApiToken", "AllowDataLoss", "CatchUpTimeout", "PromoteTimeout", "FollowTimeout", "UnusedSlotTimeout", "Hooks", "Name", "Etcd", "AgentToken", "Rejoin", "AutoRebuild", "SwitchoverMaxLagBytes", "PreferredPrimary",
    ];

    private static readonly string[] BackendKeys = ["Name", "ConnectionString", "Priority", "ReplicationHost", "ReplicationPort", "Agent"];

    private static readonly string[] HookKeys = ["OnFailover", "OnFence", "Timeout"];

    public static CoordinatorOptions Load(IConfiguration configuration, out List<string> problems)
    {
        problems = [];
        var options = new CoordinatorOptions();
        var section = configuration.GetSection(CoordinatorOptions.SectionName);
        if (!section.Exists())
        {
            problems.Add("no \"Coordinator\" section: the settings go under { \"Coordinator\": { \"Backends\": [...], ... } }.");
            return options;
        }
        UnknownKeys(section, TopLevelKeys, problems);

        var p = problems;
        options.ReplicationConnInfo = section["ReplicationConnInfo"];
        ReadDuration(section, "ProbeInterval", v => options.ProbeInterval = v, p);
        ReadDuration(section, "ProbeTimeout", v => options.ProbeTimeout = v, p);
        ReadDuration(section, "RetryInterval", v => options.RetryInterval = v, p);
        ReadDuration(section, "CatchUpTimeout", v => options.CatchUpTimeout = v, p);
        ReadDuration(section, "PromoteTimeout", v => options.PromoteTimeout = v, p);
        ReadDuration(section, "FollowTimeout", v => options.FollowTimeout = v, p);
        ReadDuration(section, "UnusedSlotTimeout", v => options.UnusedSlotTimeout = v, p);
        ReadInt(section, "FailureThreshold", v => options.FailureThreshold = v, p);
        ReadBool(section, "AllowDataLoss", v => options.AllowDataLoss = v, p);
        ReadBool(section, "AutoRebuild", v => options.AutoRebuild = v, p);
        if (section["SwitchoverMaxLagBytes"] is { } maxLag)
        {
            if (long.TryParse(maxLag, NumberStyles.None, CultureInfo.InvariantCulture, out var bytes))
                options.SwitchoverMaxLagBytes = bytes;
            else
                problems.Add($"{section.Path}:SwitchoverMaxLagBytes: '{maxLag}' is not a number of bytes.");
        }
        if (section["Http"] is { } http)
            options.Http = http;
        options.ApiToken = section["ApiToken"] is { Length: > 0 } token ? token : null;

        options.AgentToken = section["AgentToken"] is { Length: > 0 } agentToken ? agentToken : null;
        options.PreferredPrimary = section["PreferredPrimary"] is { Length: > 0 } preferred ? preferred : null;
        if (section["Rejoin"] is { } rejoin)
        {
            if (RejoinPolicies.TryParse(rejoin, out var policy))
                options.Rejoin = policy;
            else
                problems.Add($"{section.Path}:Rejoin: '{rejoin}' is not one of rewind-or-rebuild, rewind, manual.");
        }
        if (section["Name"] is { } name)
            options.Name = name;
        options.Etcd = EtcdConfiguration.Read(section.GetSection("Etcd"), p);

        var hooks = section.GetSection("Hooks");
        if (hooks.Exists())
        {
            UnknownKeys(hooks, HookKeys, problems);
            options.Hooks.OnFailover = hooks["OnFailover"];
            options.Hooks.OnFence = hooks["OnFence"];
            ReadDuration(hooks, "Timeout", v => options.Hooks.Timeout = v, p);
        }

        var backends = section.GetSection("Backends");
        foreach (var item in backends.GetChildren().OrderBy(c => int.TryParse(c.Key, out var i) ? i : int.MaxValue))
        {
            UnknownKeys(item, BackendKeys, problems);
            var b = new CoordinatorBackend
            {
                Name = item["Name"] ?? "",
                ConnectionString = item["ConnectionString"] ?? "",
                ReplicationHost = item["ReplicationHost"],
                Agent = item["Agent"] is { Length: > 0 } agent ? agent : null,
            };
            ReadInt(item, "Priority", v => b.Priority = v, p);
            ReadInt(item, "ReplicationPort", v => b.ReplicationPort = v, p);
            options.Backends.Add(b);
        }

        problems.AddRange(CoordinatorOptionsValidator.Problems(options));
        return options;
    }

    internal static void UnknownKeys(IConfigurationSection section, string[] known, List<string> problems)
    {
        foreach (var child in section.GetChildren())
        {
            if (!known.Contains(child.Key, StringComparer.OrdinalIgnoreCase))
                problems.Add($"{child.Path}: unknown setting (known here: {string.Join(", ", known)}).");
        }
    }

    internal static void ReadDuration(IConfigurationSection section, string key, Action<TimeSpan> set, List<string> problems)
    {
        if (section[key] is not { } text)
            return;
        if (Durations.TryParse(text, out var value))
            set(value);
        else
            problems.Add($"{section.Path}:{key}: '{text}' is not a duration (e.g. \"00:00:01\", \"1s\", \"500ms\").");
    }

    private static void ReadInt(IConfigurationSection section, string key, Action<int> set, List<string> problems)
    {
        if (section[key] is not { } text)
            return;
        if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
            set(value);
        else
            problems.Add($"{section.Path}:{key}: '{text}' is not a whole number.");
    }

    private static void ReadBool(IConfigurationSection section, string key, Action<bool> set, List<string> problems)
    {
        if (section[key] is not { } text)
            return;
        if (bool.TryParse(text, out var value))
            set(value);
        else
            problems.Add($"{section.Path}:{key}: '{text}' is not true or false.");
    }
}
