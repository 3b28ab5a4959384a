using System.Diagnostics;

namespace RoutingDataSource.Testing.Internal;

/// <summary>
/// Finds and signals the postmaster of a data directory directly (no pg_ctl): used to freeze
/// a server and on the paths that must not depend on spawning processes (host exit, reaping).
/// </summary>
internal static class Postmaster
{
    /// <summary>
    /// The pid of the live postmaster serving <paramref name="dataDirectory"/>, or null.
    /// The pid in postmaster.pid is trusted only if that process's command line names the
    /// directory: after a crash the file stays behind and its pid may belong to anyone.
    /// </summary>
    public static int? FindRunning(string dataDirectory) => PidFile.FindRunning(dataDirectory, PidFile.Postmaster);

    /// <summary>
    /// Stops the postmaster, waits until it really is stopped (kill returns before the signal
    /// takes effect, and a fork in progress still completes), and only then stops every
    /// descendant: a stopped postmaster forks no more, so the list is complete. Blocking for a
    /// few milliseconds at most.
    /// </summary>
    public static void Freeze(int pid)
    {
        Posix.Signal(pid, Posix.SigStop);
        WaitUntilStopped([pid]);
        var children = Posix.Descendants(pid);
        foreach (var child in children)
        {
            Posix.Signal(child, Posix.SigStop);
        }

        WaitUntilStopped(children);
    }

    // Bounded: a process in uninterruptible sleep (D) stops only when its system call returns.
    private static void WaitUntilStopped(List<int> pids)
    {
        var clock = Stopwatch.StartNew();
        while (pids.Exists(p => Posix.State(p) is { } state && state != 'T' && state != 't' && state != 'Z') && clock.Elapsed < TimeSpan.FromSeconds(2))
        {
            Thread.Sleep(1);
        }
    }

    /// <summary>Continues the descendants first, then the postmaster, the reverse of <see cref="Freeze"/>.</summary>
    public static void Thaw(int pid)
    {
        foreach (var child in Posix.Descendants(pid))
        {
            Posix.Signal(child, Posix.SigCont);
        }

        Posix.Signal(pid, Posix.SigCont);
    }

    /// <summary>
    /// Immediate shutdown of every live postmaster (and etcd member, see <see cref="PidFile.Etcd"/>) among
    /// <paramref name="dataDirectories"/>: thaw (a stopped process cannot act on a signal), SIGQUIT (what
    /// pg_ctl -m immediate sends; etcd, a Go program, exits on it), then SIGKILL whatever is left after
    /// <paramref name="grace"/>. Blocking: used where no async context is left (process exit) or inside Task.Run.
    /// </summary>
    public static void KillImmediately(IEnumerable<string> dataDirectories, TimeSpan grace)
    {
        // (pid, start time) pairs, so that a pid reused after its process ended is never killed.
        var victims = new List<(int Pid, long? Start)>();
        foreach (var dataDirectory in dataDirectories)
        {
            if ((FindRunning(dataDirectory) ?? PidFile.FindRunning(dataDirectory, PidFile.Etcd)) is { } pid)
            {
                Thaw(pid);
                victims.Add((pid, Posix.StartTime(pid)));
                victims.AddRange(Posix.Descendants(pid).Select(child => (child, Posix.StartTime(child))));
                Posix.Signal(pid, Posix.SigQuit);
            }
        }

        var clock = Stopwatch.StartNew();
        while (victims.Exists(IsStillThere) && clock.Elapsed < grace)
        {
            Thread.Sleep(10);
        }

        foreach (var victim in victims.Where(IsStillThere))
        {
            Posix.Signal(victim.Pid, Posix.SigKill);
        }
    }

    private static bool IsStillThere((int Pid, long? Start) process) =>
        Posix.IsAlive(process.Pid) && Posix.StartTime(process.Pid) == process.Start;
}
