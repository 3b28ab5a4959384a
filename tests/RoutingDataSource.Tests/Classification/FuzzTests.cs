using System.Diagnostics;
using System.Text;
using System.Text.Json;
using RoutingDataSource.Classification;
using Xunit.Abstractions;

namespace RoutingDataSource.Tests.Classification;

/// <summary>
/// The analyzer never throws and always answers, whatever the input: random characters, random token
/// soups, mutated corpus statements, huge and deeply nested texts. It drives <see cref="SqlAnalyzer"/>
/// directly, bypassing the classifier's defensive catch, so a bug cannot hide. Seeded and bounded in time;
/// a failure names the seed and the input.
/// </summary>
public sealed class FuzzTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(1.5);

    private static readonly string[] Vocabulary =
    [
        "SELECT", "select", "WITH", "RECURSIVE", "AS", "MATERIALIZED", "NOT", "INSERT", "INTO", "UPDATE", "SET", "DELETE",
        "FROM", "MERGE", "USING", "WHEN", "MATCHED", "THEN", "VALUES", "TABLE", "SHOW", "EXPLAIN", "ANALYZE", "(ANALYZE",
        "VERBOSE", "FOR", "NO", "KEY", "SHARE", "COPY", "TO", "STDOUT", "PROGRAM", "DECLARE", "CURSOR", "HOLD", "PREPARE",
        "EXECUTE", "TRANSACTION", "BEGIN", "ATOMIC", "END", "CASE", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "READ",
        "ONLY", "WRITE", "LOCAL", "TEMP", "CREATE", "FUNCTION", "PROCEDURE", "OR", "REPLACE", "CALL", "DO", "LOCK",
        "LISTEN", "NOTIFY", "RESET", "DISCARD", "VACUUM", "SEARCH", "CYCLE", "DEPTH", "FIRST", "BY", "nextval", "set_config",
        "pg_advisory_lock", "upper", "f", "t", "x", "pg_catalog", "pg_temp", "true", "false", "(", "(", ")", ")", "[", "]",
        ",", ";", ".", ":", "::", "=", "<>", "@>", "+", "-", "*", "/", "'", "''", "\"", "\"\"", "E'", "e'\\'", "U&'", "U&\"",
        "UESCAPE", "'!'", "$$", "$a$", "$1", "@p", ":p", "--", "/*", "*/", "\n", "\\", "0", "1.5e3", ".5", "x'20000'",
        "/* route: standby */", "-- route: primary\n",
    ];

    private static readonly string[] Seeds =
    [
        "SELECT a, upper(b) FROM t WHERE c = $1 FOR UPDATE",
        "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END; SELECT 2",
        "EXPLAIN (ANALYZE, COSTS OFF) INSERT INTO t SELECT nextval('s')",
        "PREPARE p(int) AS SELECT set_config('a', 'b', true); EXECUTE p(1)",
        "DECLARE c CURSOR WITH HOLD FOR SELECT $$x$$, E'\\'', U&\"\\0061\" UESCAPE '\\'",
        "/* route: standby */ COPY (SELECT 1) TO STDOUT; BEGIN READ ONLY; COMMIT",
    ];

    [Fact]
    public void Random_characters_never_break_the_analyzer()
    {
        var random = new Random(20241121);
        Run(nameof(Random_characters_never_break_the_analyzer), () =>
        {
            var text = new StringBuilder();
            int length = random.Next(0, 300);
            for (int i = 0; i < length; i++)
            {
                // Mostly SQL-relevant ASCII, sometimes anything UTF-16 can hold (lone surrogates, NUL).
                text.Append(random.Next(4) == 0 ? (char)random.Next(0, 0x10000) : (char)random.Next(0, 128));
            }

            return text.ToString();
        });
    }

    [Fact]
    public void Random_token_soups_never_break_the_analyzer()
    {
        var random = new Random(42);
        Run(nameof(Random_token_soups_never_break_the_analyzer), () =>
        {
            var text = new StringBuilder();
            int count = random.Next(0, 60);
            for (int i = 0; i < count; i++)
            {
                text.Append(Vocabulary[random.Next(Vocabulary.Length)]);
                if (random.Next(3) != 0)
                {
                    text.Append(' ');
                }
            }

            return text.ToString();
        });
    }

    [Fact]
    public void Mutated_corpus_statements_never_break_the_analyzer()
    {
        var random = new Random(7);
        string[] statements = CorpusSample(random);
        Run(nameof(Mutated_corpus_statements_never_break_the_analyzer), () => Mutate(random, statements[random.Next(statements.Length)]));
    }

    [Fact]
    public void Huge_and_deeply_nested_inputs_are_classified_in_time()
    {
        string[] inputs =
        [
            new string('(', 1_000_000),
            new string(')', 1_000_000),
            "SELECT " + new string('(', 200_000) + "1" + new string(')', 200_000),
            string.Concat(Enumerable.Repeat("EXPLAIN ANALYZE ", 100_000)) + "SELECT 1",
            string.Concat(Enumerable.Repeat("PREPARE p AS ", 100_000)) + "SELECT 1",
            string.Concat(Enumerable.Repeat("WITH a AS (", 50_000)) + "SELECT 1" + new string(')', 50_000),
            string.Concat(Enumerable.Repeat("/*", 200_000)),
            string.Concat(Enumerable.Repeat("SELECT upper(x), f", 50_000)),
            string.Concat(Enumerable.Repeat("SELECT 1;", 200_000)),
            string.Concat(Enumerable.Repeat("f(", 100_000)),
            "SELECT '" + new string('x', 1_000_000),
            "SELECT $a$" + new string('$', 1_000_000),
            "SELECT \"" + new string('"', 999_999),
            "SELECT E'" + new string('\\', 1_000_001),
            new string(';', 1_000_000),
            new string('\0', 100_000),
            string.Concat(Enumerable.Repeat("a.", 100_000)) + "b(1)",
            string.Concat(Enumerable.Repeat("x::", 100_000)) + "int",
            "SELECT f(" + string.Concat(Enumerable.Repeat("1,", 200_000)) + "1)",
            "SELECT " + string.Join(", ", Enumerable.Range(0, 20_000).Select(i => $"fn{i}(x)")),
        ];

        var stopwatch = Stopwatch.StartNew();
        foreach (string input in inputs)
        {
            Check(input, "huge input of length " + input.Length);
        }

        output.WriteLine($"{inputs.Length} huge inputs ({inputs.Sum(i => (long)i.Length):N0} characters) in {stopwatch.ElapsedMilliseconds} ms");
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(30), "huge inputs took " + stopwatch.Elapsed);
    }

    [Fact]
    public void Standby_hint_never_changes_the_kind_of_any_input()
    {
        var random = new Random(99);
        var classifier = new SqlClassifier(cacheCapacity: 0);
        Run(nameof(Standby_hint_never_changes_the_kind_of_any_input), () =>
        {
            string sql = random.Next(2) == 0 ? Mutate(random, Seeds[random.Next(Seeds.Length)]) : string.Join(' ', Enumerable.Range(0, random.Next(20)).Select(_ => Vocabulary[random.Next(Vocabulary.Length)]));
            var plain = classifier.Classify(sql);
            var hinted = classifier.Classify("/* route: standby */ " + sql);
            Assert.True(plain.Kind == hinted.Kind, $"hint changed {plain.Kind} to {hinted.Kind} for: {sql}");
            return sql;
        });
    }

    private void Run(string name, Func<string> next)
    {
        var stopwatch = Stopwatch.StartNew();
        int count = 0;
        long characters = 0;
        while (stopwatch.Elapsed < Budget)
        {
            string sql = next();
            Check(sql, $"{name}, case {count}");
            count++;
            characters += sql.Length;
        }

        output.WriteLine($"{name}: {count:N0} inputs, {characters:N0} characters in {stopwatch.ElapsedMilliseconds} ms");
        Assert.True(count > 100, "too few fuzz cases ran: " + count);
    }

    private static void Check(string sql, string label)
    {
        SqlClassification classification;
        try
        {
            classification = SqlAnalyzer.Analyze(sql);
        }
        catch (Exception exception)
        {
            throw new Xunit.Sdk.XunitException($"{label}: {exception.GetType().Name}: {exception.Message}\ninput ({sql.Length} chars): {Escape(sql)}\n{exception}");
        }

        Assert.NotNull(classification);
        Assert.True(Enum.IsDefined(classification.Kind), label);
        Assert.NotNull(classification.Functions);
        Assert.True(classification.StatementCount >= 0, label);
        Assert.NotNull(classification.Reason);
    }

    private static string Mutate(Random random, string statement)
    {
        var text = new StringBuilder(statement);
        int mutations = random.Next(1, 5);
        for (int m = 0; m < mutations; m++)
        {
            int at = text.Length == 0 ? 0 : random.Next(text.Length + 1);
            switch (random.Next(6))
            {
                case 0 when text.Length > 0:
                    text.Remove(Math.Min(at, text.Length - 1), Math.Min(random.Next(1, 10), text.Length - Math.Min(at, text.Length - 1)));
                    break;
                case 1:
                    text.Insert(at, Vocabulary[random.Next(Vocabulary.Length)]);
                    break;
                case 2 when text.Length > 0:
                    int start = random.Next(text.Length);
                    int length = Math.Min(random.Next(1, 40), text.Length - start);
                    text.Insert(at, text.ToString(start, length));
                    break;
                case 3:
                    text.Length = Math.Min(text.Length, at);
                    break;
                case 4 when text.Length > 0:
                    text[Math.Min(at, text.Length - 1)] = (char)random.Next(0, 128);
                    break;
                default:
                    text.Insert(at, (char)random.Next(0, 0x10000));
                    break;
            }
        }

        return text.ToString();
    }

    /// <summary>Statements of the conformance corpus when it is present; a few built-in ones otherwise.</summary>
    private static string[] CorpusSample(Random random)
    {
        if (!CorpusLocator.IsAvailable)
        {
            return Seeds;
        }

        var sample = new List<string>(Seeds);
        foreach (string line in File.ReadLines(CorpusLocator.VerdictsPath))
        {
            if (random.Next(10) == 0)
            {
                using var document = JsonDocument.Parse(line);
                sample.Add(document.RootElement.GetProperty("sql").GetString() ?? string.Empty);
            }
        }

        return [.. sample];
    }

    private static string Escape(string sql)
    {
        string shown = sql.Length <= 400 ? sql : sql[..400] + "...";
        var text = new StringBuilder();
        foreach (char c in shown)
        {
            text.Append(c is < ' ' or > '~' ? $"\\u{(int)c:x4}" : c.ToString());
        }

        return text.ToString();
    }
}
