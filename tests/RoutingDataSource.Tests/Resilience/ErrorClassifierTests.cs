using System.Net.Sockets;
using Npgsql;
using RoutingDataSource.Resilience;

namespace RoutingDataSource.Tests.Resilience;

/// <summary>Which failures mean "this server is gone or changed role" (DESIGN.md, "Failover in the client"), and which are ordinary.</summary>
public sealed class ErrorClassifierTests
{
    private static PostgresException Server(string sqlState) => new("message", "ERROR", "ERROR", sqlState);

    [Theory]
    [InlineData("25006", nameof(FailureKind.ReadOnly))]
    [InlineData("57P01", nameof(FailureKind.ServerGone))] // admin shutdown
    [InlineData("57P02", nameof(FailureKind.ServerGone))] // crash shutdown
    [InlineData("57P03", nameof(FailureKind.ServerGone))] // cannot connect now
    [InlineData("08006", nameof(FailureKind.ServerGone))] // class 08: connection exception
    [InlineData("08P01", nameof(FailureKind.ServerGone))]
    [InlineData("23505", nameof(FailureKind.Other))] // unique violation
    [InlineData("40001", nameof(FailureKind.Other))] // serialization failure: the server is fine
    [InlineData("57014", nameof(FailureKind.Other))] // query cancelled
    [InlineData("42P01", nameof(FailureKind.Other))]
    public void A_server_error_is_classified_by_its_sqlstate(string sqlState, string expected)
    {
        Assert.Equal(expected, ErrorClassifier.Classify(Server(sqlState)).ToString());
    }

    public static TheoryData<Exception, string> Transport => new()
    {
        { new SocketException((int)SocketError.ConnectionRefused), nameof(FailureKind.ServerGone) },
        { new IOException("reset"), nameof(FailureKind.ServerGone) },
        { new TimeoutException(), nameof(FailureKind.ServerGone) },
        { new EndOfStreamException(), nameof(FailureKind.ServerGone) },
        { new NpgsqlException("Exception while reading from stream", new EndOfStreamException()), nameof(FailureKind.ServerGone) },
        { new NpgsqlException("Failed to connect", new SocketException((int)SocketError.ConnectionRefused)), nameof(FailureKind.ServerGone) },
        { new InvalidOperationException("wrapper", new IOException("reset")), nameof(FailureKind.ServerGone) }, // found anywhere in the chain
        { new InvalidOperationException("wrapper", Server("25006")), nameof(FailureKind.ReadOnly) },
        { new NpgsqlException("plain driver error"), nameof(FailureKind.Other) },
        { new InvalidOperationException("Connection is not open"), nameof(FailureKind.Other) },
        { new OperationCanceledException(), nameof(FailureKind.Other) }, // the caller's or the monitor's: decided by the translator
        { new ArgumentException("bad parameter"), nameof(FailureKind.Other) },
    };

    [Theory]
    [MemberData(nameof(Transport))]
    public void A_transport_failure_anywhere_in_the_chain_means_the_server_is_gone(Exception e, string expected)
    {
        Assert.Equal(expected, ErrorClassifier.Classify(e).ToString());
    }

    private static PostgresException Server(string sqlState, string message, string? hint = null)
        => new(message, "ERROR", "ERROR", sqlState, hint: hint);

    // The refusals of a standby (README, "Standby refusals"), each with PostgreSQL 15's own text, and the same
    // SQLSTATEs raised for reasons that have nothing to do with recovery.
    [Theory]
    [InlineData("0A000", "cannot access temporary or unlogged relations during recovery", null, nameof(FailureKind.RecoveryRefusal))]
    [InlineData("55000", "recovery is in progress", "WAL control functions cannot be executed during recovery.", nameof(FailureKind.RecoveryRefusal))]
    [InlineData("55000", "recovery is in progress", "pg_log_standby_snapshot() cannot be executed during recovery.", nameof(FailureKind.RecoveryRefusal))]
    [InlineData("40001", "canceling statement due to conflict with recovery", null, nameof(FailureKind.ReplayConflict))]
    [InlineData("40001", "terminating connection due to conflict with recovery", null, nameof(FailureKind.ReplayConflict))]
    [InlineData("40P01", "canceling statement due to conflict with recovery", null, nameof(FailureKind.ReplayConflict))]
    [InlineData("0A000", "cannot use subquery in DEFAULT expression", null, nameof(FailureKind.Other))]
    [InlineData("55000", "lock file \"x\" already exists", null, nameof(FailureKind.Other))]
    [InlineData("40001", "could not serialize access due to concurrent update", null, nameof(FailureKind.Other))]
    [InlineData("40P01", "deadlock detected", null, nameof(FailureKind.Other))]
    public void A_standby_refusal_is_told_apart_from_the_same_sqlstate_by_its_message(string sqlState, string message, string? hint, string expected)
    {
        Assert.Equal(expected, ErrorClassifier.Classify(Server(sqlState, message, hint)).ToString());
    }

    [Fact]
    public void The_outermost_recognised_cause_wins()
    {
        Assert.Equal(FailureKind.ServerGone, ErrorClassifier.Classify(new IOException("outer", Server("25006"))));
        Assert.Equal(FailureKind.ReadOnly, ErrorClassifier.Classify(new InvalidOperationException("outer", new NpgsqlException("inner", Server("25006")))));
    }
}
