using RoutingDataSource.Classification;

namespace RoutingDataSource.Tests.Classification;

/// <summary>PostgreSQL's lexical rules, seen through where a text goes and how many statements it holds.</summary>
public sealed class LexerTests
{
    private static SqlClassification Classify(string sql) => new SqlClassifier(cacheCapacity: 0).Classify(sql);

    [Fact]
    public void Lexer_reads_tokens_as_slices_of_the_text()
    {
        const string sql = "SELECT \"a\"\"b\", E'x\\'y', $t$ $ $t$, $1, @p, :q, a::int, 1.5e3 FROM t -- c\n;";
        var kinds = new List<SqlTokenKind>();
        var texts = new List<string>();
        var lexer = new SqlLexer(sql);
        while (lexer.TryRead(out var token))
        {
            kinds.Add(token.Kind);
            texts.Add(sql.Substring(token.Start, token.Length));
        }

        Assert.Equal(
            ["SELECT", "\"a\"\"b\"", ",", "E'x\\'y'", ",", "$t$ $ $t$", ",", "$1", ",", "@p", ",", ":q", ",", "a", "::", "int", ",", "1.5e3", "FROM", "t", ";"],
            texts);
        Assert.Equal(SqlTokenKind.QuotedIdentifier, kinds[1]);
        Assert.Equal(SqlTokenKind.String, kinds[3]);
        Assert.Equal(SqlTokenKind.String, kinds[5]);
        Assert.Equal(SqlTokenKind.Parameter, kinds[7]);
        Assert.Equal(SqlTokenKind.Parameter, kinds[9]);
        Assert.Equal(SqlTokenKind.Parameter, kinds[11]);
        Assert.Equal(SqlTokenKind.DoubleColon, kinds[14]);
        Assert.Equal(SqlTokenKind.Number, kinds[17]);
        Assert.Equal(SqlLexError.None, lexer.Error);
    }

    [Fact]
    public void Line_comment_hides_what_follows_on_its_line()
    {
        var c = Classify("SELECT 1 -- ; DELETE FROM t");
        Assert.Equal(StatementKind.Read, c.Kind);
        Assert.Equal(1, c.StatementCount);
    }

    [Fact]
    public void Line_comment_ends_at_the_newline()
    {
        var c = Classify("SELECT 1 -- comment\n; DELETE FROM t");
        Assert.Equal(StatementKind.Write, c.Kind);
        Assert.Equal(2, c.StatementCount);
    }

    [Fact]
    public void Block_comments_nest()
    {
        var c = Classify("SELECT 1 /* outer /* inner */ still a comment; DELETE FROM t */");
        Assert.Equal(StatementKind.Read, c.Kind);
        Assert.Equal(1, c.StatementCount);
    }

    [Fact]
    public void Unterminated_block_comment_is_a_write()
    {
        Assert.Equal(StatementKind.Write, Classify("SELECT 1 /* /* */").Kind);
    }

    [Fact]
    public void Doubled_quote_stays_inside_a_string()
    {
        var c = Classify("SELECT 'it''s; DELETE FROM t'");
        Assert.Equal(StatementKind.Read, c.Kind);
        Assert.Equal(1, c.StatementCount);
    }

    [Fact]
    public void Backslash_is_ordinary_in_a_standard_string()
    {
        var c = Classify("SELECT 'a\\'; DELETE FROM t");
        Assert.Equal(StatementKind.Write, c.Kind);
        Assert.Equal(2, c.StatementCount);
    }

    [Fact]
    public void Backslash_escapes_a_quote_in_an_extended_string()
    {
        var c = Classify("SELECT E'a\\'; DELETE FROM t'");
        Assert.Equal(StatementKind.Read, c.Kind);
        Assert.Equal(1, c.StatementCount);
    }

    [Fact]
    public void Escaped_backslash_ends_an_extended_string_at_the_next_quote()
    {
        var c = Classify("SELECT e'a\\\\'; DELETE FROM t");
        Assert.Equal(StatementKind.Write, c.Kind);
        Assert.Equal(2, c.StatementCount);
    }

    [Fact]
    public void Unicode_string_uses_standard_quoting()
    {
        Assert.Equal(StatementKind.Read, Classify("SELECT U&'d\\0061t\\+000061; DELETE FROM t'").Kind);
        Assert.Equal(2, Classify("SELECT U&'\\'; DELETE FROM t").StatementCount);
    }

    [Fact]
    public void Unicode_string_with_uescape_is_one_literal()
    {
        var c = Classify("SELECT U&'d!0061t!+000061' UESCAPE '!', upper('x')");
        Assert.Equal(StatementKind.Read, c.Kind);
        Assert.Equal(["upper"], c.Functions);
    }

    [Fact]
    public void Bit_hex_and_national_strings_are_literals()
    {
        var c = Classify("SELECT B'1010', X'1F', N'; DELETE FROM t'");
        Assert.Equal(StatementKind.Read, c.Kind);
        Assert.Equal(1, c.StatementCount);
    }

    [Fact]
    public void Dollar_quoted_string_hides_its_body()
    {
        var c = Classify("SELECT $$; DELETE FROM t; 'unbalanced $$");
        Assert.Equal(StatementKind.Read, c.Kind);
        Assert.Equal(1, c.StatementCount);
    }

    [Fact]
    public void Tagged_dollar_quote_ends_only_at_its_own_tag()
    {
        var c = Classify("SELECT $body$ $$; DELETE FROM t; $other$ $body$");
        Assert.Equal(StatementKind.Read, c.Kind);
        Assert.Equal(1, c.StatementCount);
    }

    [Fact]
    public void Unterminated_dollar_quote_is_a_write()
    {
        Assert.Equal(StatementKind.Write, Classify("SELECT $x$ never closed").Kind);
    }

    [Fact]
    public void Dollar_digit_is_a_parameter_not_a_dollar_quote()
    {
        var c = Classify("SELECT $1; DELETE FROM t WHERE a = $2");
        Assert.Equal(StatementKind.Write, c.Kind);
        Assert.Equal(2, c.StatementCount);
    }

    [Fact]
    public void Dollar_inside_an_identifier_does_not_start_a_quote()
    {
        var c = Classify("SELECT a$$b FROM t; DELETE FROM t");
        Assert.Equal(2, c.StatementCount);
    }

    [Fact]
    public void Quoted_identifier_hides_semicolons_and_keywords()
    {
        var c = Classify("SELECT \"a;DELETE\" FROM \"t\"\"x\"");
        Assert.Equal(StatementKind.Read, c.Kind);
        Assert.Equal(1, c.StatementCount);
    }

    [Fact]
    public void Keywords_quoted_as_identifiers_are_identifiers()
    {
        var c = Classify("select \"select\", \"update\" from \"insert\" where \"delete\" = 1");
        Assert.Equal(StatementKind.Read, c.Kind);
        Assert.Empty(c.Functions);
    }

    [Fact]
    public void Unterminated_quotes_are_writes()
    {
        Assert.Equal(StatementKind.Write, Classify("SELECT 'abc").Kind);
        Assert.Equal(StatementKind.Write, Classify("SELECT E'abc\\'").Kind);
        Assert.Equal(StatementKind.Write, Classify("SELECT \"abc").Kind);
    }

    [Fact]
    public void Zero_length_quoted_identifier_is_a_write()
    {
        Assert.Equal(StatementKind.Write, Classify("SELECT \"\" FROM t").Kind);
    }

    [Fact]
    public void Npgsql_placeholders_are_parameters()
    {
        var c = Classify("SELECT * FROM t WHERE a = @a AND b = :b AND c = $1");
        Assert.Equal(StatementKind.Read, c.Kind);
        Assert.Empty(c.Functions);
    }

    [Fact]
    public void Placeholder_prefix_before_a_call_still_calls_the_function()
    {
        // Without a parameter named "nextval", Npgsql sends "@nextval(...)": prefix @ applied to the call.
        var c = Classify("SELECT @nextval('s')");
        Assert.Equal(StatementKind.Write, c.Kind);
        Assert.Equal(["nextval"], c.Functions);
    }

    [Fact]
    public void Cast_type_modifiers_are_not_calls()
    {
        var c = Classify("SELECT '1'::numeric(10,2), x::varchar(3), y::pg_catalog.bpchar(5), z::character varying(4), $1::int");
        Assert.Equal(StatementKind.Read, c.Kind);
        Assert.Empty(c.Functions);
    }

    [Fact]
    public void Operators_next_to_comments_end_at_the_comment()
    {
        var c = Classify("SELECT 1+-- comment\n2, upper('a')/* c */||'b'");
        Assert.Equal(StatementKind.Read, c.Kind);
        Assert.Equal(["upper"], c.Functions);
    }

    [Fact]
    public void Unicode_escaped_identifier_is_decoded()
    {
        Assert.Equal(["nextval"], Classify("SELECT U&\"\\006Eextval\"('s')").Functions);
        var c = Classify("SELECT U&\"!006Eextval\" UESCAPE '!' ('s')");
        Assert.Equal(StatementKind.Write, c.Kind);
        Assert.Equal(["nextval"], c.Functions);
    }

    [Fact]
    public void Unbalanced_parentheses_are_a_write()
    {
        Assert.Equal(StatementKind.Write, Classify("SELECT (1").Kind);
        Assert.Equal(StatementKind.Write, Classify("SELECT 1)").Kind);
    }

    [Fact]
    public void Semicolon_inside_parentheses_does_not_split_and_is_not_understood()
    {
        var c = Classify("SELECT (1; DELETE FROM t)");
        Assert.Equal(1, c.StatementCount);
        Assert.Equal(StatementKind.Write, c.Kind);
    }
}
