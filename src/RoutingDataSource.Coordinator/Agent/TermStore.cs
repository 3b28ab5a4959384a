using System.Globalization;

namespace RoutingDataSource.Coordinator.Agent;

/// <summary>
/// The highest fencing token an agent has obeyed, kept in a file so that a restarted agent still refuses a deposed
/// leader's orders. An order with a lower token is refused; an equal or higher one is accepted (and recorded first).
/// </summary>
internal sealed class TermStore
{
    private readonly string _path;
    private readonly Lock _lock = new();
    private long _highest;

    public TermStore(string path)
    {
        _path = path;
        if (File.Exists(path) && long.TryParse(File.ReadAllText(path).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var t))
            _highest = t;
    }

    public long Highest
    {
        get
        {
            lock (_lock)
                return _highest;
        }
    }

    /// <summary>True when <paramref name="term"/> is not stale; a new highest one is written to disk before this returns.</summary>
    public bool TryAccept(long term)
    {
        lock (_lock)
        {
            if (term < _highest)
                return false;
            if (term > _highest)
            {
                var temporary = _path + ".tmp";
                File.WriteAllText(temporary, term.ToString(CultureInfo.InvariantCulture));
                File.Move(temporary, _path, overwrite: true);
                _highest = term;
            }
            return true;
        }
    }
}
