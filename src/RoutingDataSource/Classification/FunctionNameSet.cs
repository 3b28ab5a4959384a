namespace RoutingDataSource.Classification;

/// <summary>
/// The distinct function names of one text, in order of first appearance. A name is compared as a span
/// before it becomes a string, so a repeated call allocates nothing.
/// </summary>
internal sealed class FunctionNameSet
{
    // Most statements call a handful of functions: a linear scan beats hashing until then.
    private const int IndexThreshold = 8;

    private readonly List<string> _names = [];
    private HashSet<string>? _index;

    public List<string> Names => _names;

    /// <summary>The stored name equal to <paramref name="name"/>, adding it first if new.</summary>
    public string GetOrAdd(ReadOnlySpan<char> name)
    {
        if (_index is not null)
        {
            var lookup = _index.GetAlternateLookup<ReadOnlySpan<char>>();
            if (lookup.TryGetValue(name, out string? existing))
            {
                return existing;
            }
        }
        else
        {
            foreach (string existing in _names)
            {
                if (name.SequenceEqual(existing))
                {
                    return existing;
                }
            }
        }

        string added = name.ToString();
        _names.Add(added);
        if (_index is not null)
        {
            _index.Add(added);
        }
        else if (_names.Count > IndexThreshold)
        {
            _index = new HashSet<string>(_names, StringComparer.Ordinal);
        }

        return added;
    }
}
