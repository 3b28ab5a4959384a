using System.Text.Json;

namespace RoutingDataSource.Benchmarks.Comparison.Corpus;

/// <summary>One line of <c>pg-regress-verdicts.jsonl</c> (see the corpus README).</summary>
internal sealed record CorpusStatement(string File, int Index, string Sql, bool InBlock, string Standby, string Primary)
{
    private static readonly string[] ReadKeywords = ["select", "with", "values", "table", "show", "explain"];

    /// <summary>Sent at all: the broken (psql variables) and client-unsupported (COPY through a plain command) ones are not.</summary>
    public bool Runs => Primary is not ("broken" or "client-unsupported") && Standby != "client-unsupported";

    /// <summary>A standby refused it because it must run on a primary: sending it to one is a misroute.</summary>
    public bool Refused => Standby.StartsWith("refused", StringComparison.Ordinal);

    /// <summary>
    /// The corpus README's read-only statement: the standby ran it, the primary ran it, and it only reads (SELECT, WITH,
    /// VALUES, TABLE, SHOW, EXPLAIN without ANALYZE). The share of these a router sends to a standby is its read yield.
    /// </summary>
    public bool ReadOnly
    {
        get
        {
            if (Standby != "ok" || Primary != "ok")
                return false;
            var text = Sql.TrimStart().TrimStart('(').TrimStart();
            var word = new string(text.TakeWhile(char.IsAsciiLetter).ToArray()).ToLowerInvariant();
            if (!ReadKeywords.Contains(word))
                return false;
            return word != "explain" || !text.Contains("analyze", StringComparison.OrdinalIgnoreCase) && !text.Contains("analyse", StringComparison.OrdinalIgnoreCase);
        }
    }

    /// <summary>The corpus: the setup script first, then every file's statements in order.</summary>
    public static (IReadOnlyList<CorpusStatement> Setup, IReadOnlyList<IGrouping<string, CorpusStatement>> Files) Load(string path)
    {
        var all = new List<CorpusStatement>();
        foreach (var line in System.IO.File.ReadLines(path))
        {
            if (line.Length == 0)
                continue;
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            all.Add(new CorpusStatement(r.GetProperty("file").GetString()!, r.GetProperty("index").GetInt32(), r.GetProperty("sql").GetString()!,
                r.GetProperty("inBlock").GetBoolean(), r.GetProperty("standby").GetString()!, r.GetProperty("primary").GetString()!));
        }
        var setup = all.Where(s => s.File == "test_setup").OrderBy(s => s.Index).ToList();
        var files = all.Where(s => s.File != "test_setup").GroupBy(s => s.File).ToList();
        return (setup, files);
    }
}
