namespace RoutingDataSource.Coordinator.Ha;

/// <summary>Every problem of <see cref="CoordinatorOptions.Name"/> and <see cref="CoordinatorOptions.Etcd"/>, each as one sentence naming its setting.</summary>
internal static class EtcdOptionsValidator
{
    public static IEnumerable<string> Problems(CoordinatorOptions options)
    {
        var name = options.Name;
        if (string.IsNullOrWhiteSpace(name))
            yield return "Name is required (it defaults to the host name).";
        else if (!name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.') || name.Length > 63 || name[0] == '-')
            yield return $"Name '{name}' may hold only letters, digits, '_', '-' and '.' (at most 63, not starting with '-'): it is part of an etcd key.";

        if (options.Etcd is not { } etcd)
            yield break;

        if (etcd.Endpoints.Count == 0)
            yield return "Etcd:Endpoints: at least one is needed (3 members recommended), e.g. [\"http://127.0.0.1:2379\"].";
        var schemes = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < etcd.Endpoints.Count; i++)
        {
            var text = etcd.Endpoints[i];
            if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.IsDefaultPort && !text.Contains(":" + uri.Port, StringComparison.Ordinal)
                || uri.AbsolutePath != "/" || uri.Query.Length > 0 || uri.UserInfo.Length > 0)
                yield return $"Etcd:Endpoints[{i}] '{text}' is not an etcd client URL http://host:port or https://host:port.";
            else
                schemes.Add(uri.Scheme);
        }
        if (schemes.Count > 1)
            yield return "Etcd:Endpoints mix http:// and https://: one client talks to every member the same way.";

        if (string.IsNullOrWhiteSpace(etcd.Prefix))
            yield return "Etcd:Prefix is required, one per PostgreSQL cluster, e.g. \"/routing/main\".";
        else if (etcd.Prefix[0] != '/' || etcd.Prefix.EndsWith('/') || etcd.Prefix.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)) || etcd.Prefix.Contains("//", StringComparison.Ordinal))
            yield return $"Etcd:Prefix '{etcd.Prefix}' must start with '/', not end with '/', and hold no spaces or empty segments, e.g. \"/routing/main\".";

        if (etcd.LeaseTtl < TimeSpan.FromSeconds(2) || etcd.LeaseTtl > TimeSpan.FromHours(1) || etcd.LeaseTtl.Ticks % TimeSpan.TicksPerSecond != 0)
            yield return $"Etcd:LeaseTtl must be whole seconds from 2 s to 1 h (etcd leases count in seconds); it is {etcd.LeaseTtl}.";

        if (string.IsNullOrEmpty(etcd.Username) != string.IsNullOrEmpty(etcd.Password))
            yield return "Etcd:Username and Etcd:Password go together: set both or neither.";

        var https = schemes.Contains("https");
        if (string.IsNullOrEmpty(etcd.ClientCertificateFile) != string.IsNullOrEmpty(etcd.ClientKeyFile))
            yield return "Etcd:ClientCertificateFile and Etcd:ClientKeyFile go together: set both or neither.";
        foreach (var (key, path) in new[] { ("CaFile", etcd.CaFile), ("ClientCertificateFile", etcd.ClientCertificateFile), ("ClientKeyFile", etcd.ClientKeyFile) })
        {
            if (string.IsNullOrEmpty(path))
                continue;
            if (!https)
                yield return $"Etcd:{key} is set but the endpoints are not https://: TLS settings need https endpoints.";
            else if (!File.Exists(path))
                yield return $"Etcd:{key}: no file '{path}'.";
        }
    }
}
