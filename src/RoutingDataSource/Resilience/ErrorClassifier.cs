using System.Net.Sockets;
using Npgsql;

namespace RoutingDataSource.Resilience;

/// <summary>Sorts exceptions from routed statements into <see cref="FailureKind"/>s. Pure.</summary>
internal static class ErrorClassifier
{
    public static FailureKind Classify(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException)
        {
            switch (x)
            {
                case PostgresException pe:
                    return pe.SqlState switch
                    {
                        "25006" => FailureKind.ReadOnly,
                        // The SQLSTATEs are shared with errors that have nothing to do with recovery: the message tells
                        // them apart (README, "Standby refusals", lists each one with its place in PostgreSQL's source).
                        "0A000" when Mentions(pe, "during recovery") => FailureKind.RecoveryRefusal,
                        "55000" when Mentions(pe, "recovery is in progress") || Mentions(pe, "during recovery") => FailureKind.RecoveryRefusal,
                        "40001" or "40P01" when Mentions(pe, "conflict with recovery") => FailureKind.ReplayConflict,
                        "57P01" or "57P02" or "57P03" => FailureKind.ServerGone,
                        _ when pe.SqlState.StartsWith("08", StringComparison.Ordinal) => FailureKind.ServerGone,
                        _ => FailureKind.Other,
                    };
                case SocketException or IOException or TimeoutException or EndOfStreamException:
                    return FailureKind.ServerGone;
                case NpgsqlException { InnerException: null } ne when ne.IsTransient:
                    return FailureKind.ServerGone;
            }
        }
        return FailureKind.Other;
    }

    private static bool Mentions(PostgresException e, string words)
        => e.MessageText.Contains(words, StringComparison.Ordinal) || (e.Hint?.Contains(words, StringComparison.Ordinal) ?? false);
}
