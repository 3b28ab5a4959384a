using System.Runtime.InteropServices;

namespace RoutingDataSource.Benchmarks.Comparison.Infrastructure;

/// <summary>kill(2), which .NET offers only as SIGKILL of one process: the harness needs SIGINT and whole process groups.</summary>
internal static partial class Signals
{
    public const int SigInt = 2;
    public const int SigKill = 9;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    /// <summary>Signals one process; false when it is gone.</summary>
    public static bool Process(int pid, int signal) => pid > 0 && Kill(pid, signal) == 0;

    /// <summary>Signals every process of a process group; false when none is left.</summary>
    public static bool Group(int processGroup, int signal) => processGroup > 1 && Kill(-processGroup, signal) == 0;

    /// <summary>Whether any live (not zombie) process is in the group.</summary>
    public static bool GroupAlive(int processGroup) =>
        ProcFs.AllProcesses().Exists(p => p.ProcessGroup == processGroup && p.State != 'Z');
}
