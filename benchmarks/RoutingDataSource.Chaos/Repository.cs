namespace RoutingDataSource.Chaos;

/// <summary>Where the repository is (for results, artifacts and the git commit), found upwards from the binaries.</summary>
internal static class Repository
{
    public static string Root()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "RoutingDataSource.sln")))
                return d.FullName;
        }

        return Directory.GetCurrentDirectory();
    }
}
