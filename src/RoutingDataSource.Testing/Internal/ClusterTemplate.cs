using System.Security.Cryptography;
using System.Text;

namespace RoutingDataSource.Testing.Internal;

/// <summary>
/// One initdb'd, never-started data directory per PostgreSQL installation, kept in the work
/// area and shared by every run: initdb is the slow step of a cluster start (~0.6 s), a copy
/// takes a tenth of that. Because all nodes of a cluster are copies of one cleanly shut-down
/// directory, a copy is also a valid base backup, so standbys need no pg_basebackup.
/// </summary>
internal static class ClusterTemplate
{
    // Bump when the template's content changes, so that old templates are not reused.
    private const string Format = "2";

    /// <summary>The file every node writes its own settings to; the template's postgresql.conf includes it.</summary>
    public const string NodeSettingsFile = "routing_testing.conf";

    private static readonly SemaphoreSlim Gate = new(1, 1);

    /// <summary>The template directory for <paramref name="binaries"/>, created when missing.</summary>
    public static async Task<string> EnsureAsync(PgBinaries binaries, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var key = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{Format}|{binaries.Directory}|{binaries.Version}")))[..16];
        var path = Path.Combine(WorkArea.Root, "template-" + key);
        if (IsComplete(path))
        {
            return path;
        }

        await Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!IsComplete(path))
            {
                await CreateAsync(binaries, path, timeout, cancellationToken).ConfigureAwait(false);
            }

            return path;
        }
        finally
        {
            Gate.Release();
        }
    }

    private static bool IsComplete(string path) => Directory.Exists(path);

    // Built under a staging name and renamed: another process racing us either sees nothing or a whole template.
    private static async Task CreateAsync(PgBinaries binaries, string path, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var staging = WorkArea.NewStagingPath(path);
        try
        {
            await WorkArea.CreateServerDirectoryAsync(staging, cancellationToken).ConfigureAwait(false);
            var result = await Command.RunAsServerAsync(
                binaries.InitDb,
                ["-D", staging, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"],
                timeout, cancellationToken).ConfigureAwait(false);
            if (!result.Succeeded)
            {
                throw new InvalidOperationException($"initdb failed ({binaries}):\n{result.Output}");
            }

            await File.WriteAllTextAsync(Path.Combine(staging, "pg_hba.conf"), HostBasedAuthentication, cancellationToken).ConfigureAwait(false);
            await File.AppendAllTextAsync(
                Path.Combine(staging, "postgresql.conf"),
                $"\n# RoutingDataSource.Testing: each node's own settings.\ninclude = '{NodeSettingsFile}'\n",
                cancellationToken).ConfigureAwait(false);
            await WorkArea.GiveToServerUserAsync(staging, cancellationToken).ConfigureAwait(false);

            try
            {
                Directory.Move(staging, path);
            }
            catch (IOException) when (IsComplete(path))
            {
                // Another process finished first; its template is as good as ours.
            }
        }
        finally
        {
            WorkArea.TryDelete(staging);
        }
    }

    // Loopback only, trust: these servers hold throw-away test data and listen on 127.0.0.1 alone.
    private const string HostBasedAuthentication = """
        # RoutingDataSource.Testing: throw-away local clusters, loopback only.
        local   all             all                     trust
        host    all             all     127.0.0.1/32    trust
        local   replication     all                     trust
        host    replication     all     127.0.0.1/32    trust

        """;
}
