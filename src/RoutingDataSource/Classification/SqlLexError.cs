namespace RoutingDataSource.Classification;

/// <summary>A lexical error: PostgreSQL would reject the text, so the classifier does not trust it.</summary>
internal enum SqlLexError : byte
{
    None,
    UnterminatedComment,
    UnterminatedString,
    UnterminatedQuotedIdentifier,
    UnterminatedDollarQuote,
    EmptyQuotedIdentifier,
}
