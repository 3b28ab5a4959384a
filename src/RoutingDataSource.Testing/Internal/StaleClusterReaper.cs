namespace RoutingDataSource.Testing.Internal;

/// <summary>
/// Removes what earlier runs left behind when their process died before it could clean up
/// (a killed test host): stops their servers and deletes their directories. Entries of live
/// processes, including this one, are never touched.
/// </summary>
internal static class StaleClusterReaper
{
    /// <summary>
    /// A dead owner's directory younger than this is left alone: another test process may be building it right now
    /// (a test that stamps a cluster with a dead owner on purpose), and a process id can be reused quickly.
    /// </summary>
    internal static readonly TimeSpan Grace = TimeSpan.FromSeconds(30);

    /// <summary>Blocking (signals and polling); call it inside Task.Run from async code.</summary>
    public static void ReapDeadOwners(string root)
    {
        IEnumerable<string> entries;
        try
        {
            entries = Directory.EnumerateDirectories(root).ToList();
        }
        catch (DirectoryNotFoundException)
        {
            return;
        }

        var cutoff = DateTime.UtcNow - Grace;
        foreach (var entry in entries.Where(e => WorkArea.IsStale(Path.GetFileName(e)) && LastTouched(e) < cutoff))
        {
            Remove(entry);
        }
    }

    private static DateTime LastTouched(string directory)
    {
        try
        {
            return Directory.GetLastWriteTimeUtc(directory);
        }
        catch (IOException)
        {
            return DateTime.MaxValue;
        }
    }

    /// <summary>Stops the servers (postmasters, etcd members) whose directories are direct children of <paramref name="clusterDirectory"/>, then deletes it.</summary>
    public static void Remove(string clusterDirectory)
    {
        try
        {
            Postmaster.KillImmediately(Directory.EnumerateDirectories(clusterDirectory).ToList(), TimeSpan.FromSeconds(10));
        }
        catch (DirectoryNotFoundException)
        {
            return;
        }

        WorkArea.TryDelete(clusterDirectory);
    }
}
