using Microsoft.Extensions.Configuration;
using RoutingDataSource.Coordinator.Configuration;

namespace RoutingDataSource.Coordinator.Ha;

/// <summary>Reads the optional <c>Coordinator:Etcd</c> section, reporting unknown keys and unreadable values like the rest of the file.</summary>
internal static class EtcdConfiguration
{
    private static readonly string[] Keys = ["Endpoints", "Prefix", "LeaseTtl", "Username", "Password", "CaFile", "ClientCertificateFile", "ClientKeyFile"];

    /// <summary>The settings, or null when the section is absent (one coordinator alone).</summary>
    public static CoordinatorEtcdOptions? Read(IConfigurationSection section, List<string> problems)
    {
        if (!section.Exists())
            return null;
        CoordinatorConfiguration.UnknownKeys(section, Keys, problems);
        var etcd = new CoordinatorEtcdOptions
        {
            Prefix = section["Prefix"] ?? "",
            Username = NullIfEmpty(section["Username"]),
            Password = NullIfEmpty(section["Password"]),
            CaFile = NullIfEmpty(section["CaFile"]),
            ClientCertificateFile = NullIfEmpty(section["ClientCertificateFile"]),
            ClientKeyFile = NullIfEmpty(section["ClientKeyFile"]),
        };
        CoordinatorConfiguration.ReadDuration(section, "LeaseTtl", v => etcd.LeaseTtl = v, problems);
        var endpoints = section.GetSection("Endpoints");
        if (endpoints.Value is { Length: > 0 } commaSeparated)
        {
            // "Endpoints": "http://a:2379,http://b:2379" (an environment variable cannot hold an array).
            foreach (var endpoint in commaSeparated.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                etcd.Endpoints.Add(endpoint);
        }
        foreach (var item in endpoints.GetChildren().OrderBy(c => int.TryParse(c.Key, out var i) ? i : int.MaxValue))
        {
            if (item.Value is { Length: > 0 } endpoint)
                etcd.Endpoints.Add(endpoint);
        }
        return etcd;
    }

    private static string? NullIfEmpty(string? text) => string.IsNullOrEmpty(text) ? null : text;
}
