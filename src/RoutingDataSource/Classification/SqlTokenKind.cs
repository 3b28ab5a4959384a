namespace RoutingDataSource.Classification;

/// <summary>The lexical class of a <see cref="SqlToken"/>, following PostgreSQL's scanner (scan.l).</summary>
internal enum SqlTokenKind : byte
{
    /// <summary>An unquoted identifier or keyword.</summary>
    Word,

    /// <summary><c>"quoted identifier"</c> or <c>U&amp;"..."</c>.</summary>
    QuotedIdentifier,

    /// <summary>Any string constant: <c>'...'</c>, <c>E'...'</c>, <c>U&amp;'...'</c>, <c>B'...'</c>, <c>X'...'</c>, <c>N'...'</c>, <c>$tag$...$tag$</c>.</summary>
    String,

    /// <summary>A numeric constant.</summary>
    Number,

    /// <summary>A positional parameter <c>$1</c> or an Npgsql placeholder <c>@name</c> / <c>:name</c>.</summary>
    Parameter,

    /// <summary>An operator (a run of operator characters) or a character PostgreSQL would reject.</summary>
    Operator,

    /// <summary><c>(</c></summary>
    LeftParen,

    /// <summary><c>)</c></summary>
    RightParen,

    /// <summary><c>[</c></summary>
    LeftBracket,

    /// <summary><c>]</c></summary>
    RightBracket,

    /// <summary><c>,</c></summary>
    Comma,

    /// <summary><c>;</c></summary>
    Semicolon,

    /// <summary><c>.</c></summary>
    Dot,

    /// <summary><c>:</c> (array slices).</summary>
    Colon,

    /// <summary><c>::</c> (casts).</summary>
    DoubleColon,
}
