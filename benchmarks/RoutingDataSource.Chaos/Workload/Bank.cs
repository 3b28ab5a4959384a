using System.Globalization;
using RoutingDataSource.Testing;

namespace RoutingDataSource.Chaos.Workload;

/// <summary>The soak's tables: accounts whose balances only move between each other, the ledger of every transfer, and inserted items.</summary>
internal static class Bank
{
    public const int Accounts = 100;
    public const long InitialBalance = 1000;
    public const long Total = Accounts * InitialBalance;

    public static Task CreateAsync(LocalPgNode primary) => primary.ExecuteAsync(string.Create(CultureInfo.InvariantCulture, $"""
        CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL);
        INSERT INTO accounts SELECT g, {InitialBalance} FROM generate_series(1, {Accounts}) g;
        CREATE TABLE ledger (transfer_id bigint PRIMARY KEY, from_id int NOT NULL, to_id int NOT NULL, amount bigint NOT NULL);
        CREATE TABLE items (id bigint PRIMARY KEY, worker int NOT NULL, via_returning boolean NOT NULL);
        """));
}
