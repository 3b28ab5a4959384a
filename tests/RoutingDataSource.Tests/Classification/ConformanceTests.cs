using System.Globalization;
using System.Text;
using System.Text.Json;
using RoutingDataSource.Classification;
using Xunit.Abstractions;

namespace RoutingDataSource.Tests.Classification;

/// <summary>
/// The classifier against what a real PostgreSQL 15 hot standby said of the 41,924 statements of
/// PostgreSQL's regression suite (../shared/corpus/README.md explains the labels).
/// </summary>
public sealed class ConformanceTests(ITestOutputHelper output)
{
    private const double RequiredReadYield = 0.90;

    [CorpusFact]
    public void Classifier_never_sends_a_refused_statement_to_a_standby_and_sends_at_least_90_percent_of_reads()
    {
        Assert.True(CorpusLocator.IsAvailable, CorpusLocator.MissingReason + " (CI=true: the corpus is required)");

        var volatility = ReadVolatility(CorpusLocator.VolatilityPath);
        var classifier = new SqlClassifier();
        var report = new Report();
        foreach (string line in File.ReadLines(CorpusLocator.VerdictsPath))
        {
            using var document = JsonDocument.Parse(line);
            var entry = document.RootElement;
            string sql = entry.GetProperty("sql").GetString() ?? string.Empty;
            string standby = entry.GetProperty("standby").GetString() ?? string.Empty;
            string where = $"{entry.GetProperty("file").GetString()}:{entry.GetProperty("index").GetInt32()}";
            var classification = classifier.Classify(sql);

            // The issue's definition, literally: a Read whose functions are all non-volatile built-ins.
            bool sent = classification.Kind == StatementKind.Read && classification.Functions.All(f => IsNonVolatileBuiltin(volatility, f));

            // What the router will do: volatile built-ins known to be read-safe count as reads too.
            bool routerSent = classification.Kind == StatementKind.Read &&
                classification.Functions.All(f => IsNonVolatileBuiltin(volatility, f) || BuiltinFunctions.IsReadSafe(f));

            report.Statements++;
            if (standby.StartsWith("refused", StringComparison.Ordinal))
            {
                report.Refused++;
                if (sent)
                {
                    report.Misroutes.Add($"{where} {standby}: {OneLine(sql)} => {classification}");
                }

                if (routerSent)
                {
                    report.RouterMisroutes.Add($"{where} {standby}: {OneLine(sql)} => {classification}");
                }

                if (classification.Kind == StatementKind.Read && !routerSent)
                {
                    // Kept off the standby only because a user function is unknown: the router's pg_proc lookup decides.
                    report.RefusedReadsWithUserFunctions++;
                }
            }
            else if (standby == "ok" && OnlyReads(sql))
            {
                report.OkReads++;
                if (sent)
                {
                    report.Sent++;
                }
                else
                {
                    report.AddMiss(MissCause(classification, volatility), where, sql);
                    foreach (string unknown in classification.Functions.Where(f => Builtin(volatility, f) is null).Distinct())
                    {
                        report.UnknownFunctions[unknown] = report.UnknownFunctions.GetValueOrDefault(unknown) + 1;
                    }
                }

                if (routerSent)
                {
                    report.RouterSent++;
                }
            }
        }

        output.WriteLine(report.Describe());

        Assert.True(report.Refused > 10_000 && report.OkReads > 10_000, "the corpus looks truncated:\n" + report.Describe());
        Assert.True(report.Misroutes.Count == 0, "refused statements sent to a standby:\n" + string.Join('\n', report.Misroutes));
        Assert.True(report.RouterMisroutes.Count == 0, "refused statements sent to a standby with the read-safe list:\n" + string.Join('\n', report.RouterMisroutes));
        Assert.True(report.ReadYield >= RequiredReadYield, $"read yield {report.ReadYield:P2} is below {RequiredReadYield:P0}");
    }

    /// <summary>
    /// The corpus's "statements that only read": SELECT, WITH, VALUES, TABLE, SHOW, and EXPLAIN without
    /// ANALYZE, judged by the first keyword after comments and opening parentheses.
    /// </summary>
    private static bool OnlyReads(string sql)
    {
        var lexer = new SqlLexer(sql);
        SqlToken token;
        do
        {
            if (!lexer.TryRead(out token))
            {
                return false;
            }
        }
        while (token.Kind == SqlTokenKind.LeftParen);

        string word = sql.Substring(token.Start, token.Length).ToUpperInvariant();
        if (token.Kind != SqlTokenKind.Word || word is not ("SELECT" or "WITH" or "VALUES" or "TABLE" or "SHOW" or "EXPLAIN"))
        {
            return false;
        }

        if (word != "EXPLAIN")
        {
            return true;
        }

        // EXPLAIN ANALYZE ..., or EXPLAIN (..., ANALYZE [true], ...) runs the statement.
        if (!lexer.TryRead(out token))
        {
            return true;
        }

        if (IsAnalyze(sql, token))
        {
            return false;
        }

        if (token.Kind != SqlTokenKind.LeftParen)
        {
            return true;
        }

        var previous = token;
        while (lexer.TryRead(out token) && token.Kind != SqlTokenKind.RightParen)
        {
            if (previous.Kind is SqlTokenKind.LeftParen or SqlTokenKind.Comma && IsAnalyze(sql, token))
            {
                return lexer.TryRead(out var value) &&
                    sql.Substring(value.Start, value.Length).ToUpperInvariant() is "FALSE" or "OFF" or "0";
            }

            previous = token;
        }

        return true;
    }

    private static bool IsAnalyze(string sql, SqlToken token) =>
        token.Kind == SqlTokenKind.Word &&
        sql.Substring(token.Start, token.Length).ToUpperInvariant() is "ANALYZE" or "ANALYSE";

    private static Dictionary<string, (string Schema, char Volatility)> ReadVolatility(string path)
    {
        var functions = new Dictionary<string, (string, char)>(StringComparer.Ordinal);
        foreach (string line in File.ReadLines(path).Skip(1))
        {
            string[] fields = line.Split('\t');
            if (fields.Length == 3 && fields[2].Length == 1)
            {
                functions[fields[0]] = (fields[1], fields[2][0]);
            }
        }

        return functions;
    }

    /// <summary>
    /// True for a built-in the TSV lists as immutable or stable: unqualified (pg_catalog is always on the
    /// search path) or qualified with its own schema. Anything else is unknown, so not sent.
    /// </summary>
    private static bool IsNonVolatileBuiltin(Dictionary<string, (string Schema, char Volatility)> volatility, string name) =>
        Builtin(volatility, name) is { } found && found.Volatility != 'v';

    private static (string Schema, char Volatility)? Builtin(Dictionary<string, (string Schema, char Volatility)> volatility, string name)
    {
        string? schema = null;
        int dot = name.IndexOf('.', StringComparison.Ordinal);
        if (dot > 0 && name[0] != '"')
        {
            schema = name[..dot];
            name = name[(dot + 1)..];
        }

        if (name.Length > 2 && name[0] == '"' && name[^1] == '"')
        {
            name = name[1..^1].Replace("\"\"", "\"", StringComparison.Ordinal);
        }

        if (name.Contains('.', StringComparison.Ordinal) || !volatility.TryGetValue(name, out var found))
        {
            return null;
        }

        return schema is null ? (found.Schema == "pg_catalog" ? found : null) : (found.Schema == schema ? found : null);
    }

    private static string MissCause(SqlClassification classification, Dictionary<string, (string Schema, char Volatility)> volatility)
    {
        if (classification.Kind != StatementKind.Read)
        {
            return $"classified {classification.Kind}: {classification.Reason}";
        }

        var volatileBuiltins = classification.Functions.Where(f => Builtin(volatility, f) is { Volatility: 'v' }).ToList();
        if (classification.Functions.Any(f => Builtin(volatility, f) is null))
        {
            return "calls a user-defined (unknown) function";
        }

        return "calls a volatile built-in: " + string.Join(", ", volatileBuiltins);
    }

    private static string OneLine(string sql)
    {
        string line = sql.ReplaceLineEndings(" ");
        return line.Length <= 160 ? line : line[..160] + "...";
    }

    private sealed class Report
    {
        public int Statements { get; set; }

        public int Refused { get; set; }

        public int OkReads { get; set; }

        public int Sent { get; set; }

        public int RouterSent { get; set; }

        public int RefusedReadsWithUserFunctions { get; set; }

        public List<string> Misroutes { get; } = [];

        public List<string> RouterMisroutes { get; } = [];

        public Dictionary<string, List<string>> Misses { get; } = [];

        public Dictionary<string, int> UnknownFunctions { get; } = [];

        public double ReadYield => OkReads == 0 ? 0 : (double)Sent / OkReads;

        public void AddMiss(string cause, string where, string sql)
        {
            if (!Misses.TryGetValue(cause, out var examples))
            {
                Misses[cause] = examples = [];
            }

            examples.Add($"{where}: {OneLine(sql)}");
        }

        public string Describe()
        {
            var text = new StringBuilder();
            var culture = CultureInfo.InvariantCulture;
            text.AppendLine(culture, $"conformance corpus: {CorpusLocator.Directory} ({Statements} statements)");
            text.AppendLine(culture, $"misroutes (refused statements sent to a standby): {Misroutes.Count} of {Refused} refused");
            text.AppendLine(culture, $"misroutes with the router's read-safe volatile list: {RouterMisroutes.Count}");
            text.AppendLine(culture, $"read yield (ok statements that only read, sent to a standby): {Sent} of {OkReads} = {ReadYield:P2}");
            text.AppendLine(culture, $"read yield with the router's read-safe volatile list: {RouterSent} of {OkReads} = {(OkReads == 0 ? 0 : (double)RouterSent / OkReads):P2}");
            text.AppendLine(culture, $"refused statements classified Read but kept off the standby only by an unknown user function: {RefusedReadsWithUserFunctions}");
            text.AppendLine(culture, $"reads not sent, by cause ({OkReads - Sent}):");
            foreach (var (cause, examples) in Misses.OrderByDescending(m => m.Value.Count).ThenBy(m => m.Key, StringComparer.Ordinal))
            {
                text.AppendLine(culture, $"  {examples.Count,5}  {cause}");
                foreach (string example in examples.Take(3))
                {
                    text.AppendLine(culture, $"           e.g. {example}");
                }
            }

            var top = UnknownFunctions.OrderByDescending(f => f.Value).ThenBy(f => f.Key, StringComparer.Ordinal).Take(12);
            text.Append(culture, $"user-defined functions in reads not sent ({UnknownFunctions.Count} names), most frequent: ")
                .AppendJoin(", ", top.Select(f => string.Create(culture, $"{f.Key} ({f.Value})")))
                .AppendLine();

            return text.ToString();
        }
    }
}
