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
}
