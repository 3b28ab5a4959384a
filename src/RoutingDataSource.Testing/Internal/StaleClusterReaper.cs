namespace RoutingDataSource.Testing.Internal;

/// <summary>
/// Removes what earlier runs left behind when their process died before it could clean up
/// (a killed test host): stops their servers and deletes their directories. Entries of live
/// processes, including this one, are never touched.
/// </summary>
internal static class StaleClusterReaper
{
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

        foreach (var entry in entries.Where(e => WorkArea.IsStale(Path.GetFileName(e))))
        {
            Remove(entry);
        }
    }

    /// <summary>Stops the servers whose data directories are direct children of <paramref name="clusterDirectory"/>, then deletes it.</summary>
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
