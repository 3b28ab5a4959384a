namespace RoutingDataSource.Benchmarks.Comparison.Infrastructure;

/// <summary>Deleting the harness's own temporary directories.</summary>
internal static class WorkDirectory
{
    /// <summary>Deletes a tree, tolerating that it is (partly) gone or still being written by a process that is exiting.</summary>
    public static void TryDelete(string path)
    {
        for (var attempt = 0; attempt < 3; attempt++)
        {
            try
            {
                if (Directory.Exists(path))
                    Directory.Delete(path, recursive: true);
                return;
            }
            catch (IOException)
            {
                Thread.Sleep(50);
            }
            catch (UnauthorizedAccessException)
            {
                return;
            }
        }
    }
}
