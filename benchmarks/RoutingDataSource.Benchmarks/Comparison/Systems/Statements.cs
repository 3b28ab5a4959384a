using Npgsql;

namespace RoutingDataSource.Benchmarks.Comparison.Systems;

/// <summary>The two statements every system runs, as pgbench's TPC-B-like script uses them.</summary>
internal static class Statements
{
    public const string Read = "SELECT abalance FROM pgbench_accounts WHERE aid = $1";

    public const string Write = "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2";

    /// <summary>Adds the read's parameter (typed, so nothing is boxed).</summary>
    public static void BindRead(NpgsqlParameterCollection parameters, int aid) => parameters.Add(new NpgsqlParameter<int> { TypedValue = aid });

    /// <summary>Adds the write's parameters.</summary>
    public static void BindWrite(NpgsqlParameterCollection parameters, int aid, int delta)
    {
        parameters.Add(new NpgsqlParameter<int> { TypedValue = delta });
        parameters.Add(new NpgsqlParameter<int> { TypedValue = aid });
    }

    /// <summary>The tenant's session state, as a multi-tenant application with row-level security sets it.</summary>
    public static string SetTenant(int tenant) => "SET app.tenant_id = '" + tenant.ToString(System.Globalization.CultureInfo.InvariantCulture) + "'";

    /// <summary>A tenant session on an open connection (Npgsql or routing): the SET, then each statement.</summary>
    public static async Task TenantSessionAsync(System.Data.Common.DbConnection connection, int tenant, IReadOnlyList<(int Aid, int? Delta)> statements, CancellationToken cancellationToken)
    {
        await using (var set = connection.CreateCommand())
        {
            set.CommandText = SetTenant(tenant);
            await set.ExecuteNonQueryAsync(cancellationToken);
        }
        foreach (var (aid, delta) in statements)
        {
            await using var cmd = connection.CreateCommand();
            var parameters = (NpgsqlParameterCollection)cmd.Parameters;
            if (delta is { } d)
            {
                cmd.CommandText = Write;
                BindWrite(parameters, aid, d);
                await cmd.ExecuteNonQueryAsync(cancellationToken);
            }
            else
            {
                cmd.CommandText = Read;
                BindRead(parameters, aid);
                await cmd.ExecuteScalarAsync(cancellationToken);
            }
        }
    }

    /// <summary>Runs the read on an open Npgsql connection.</summary>
    public static async Task ReadAsync(NpgsqlConnection connection, int aid, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(Read, connection);
        BindRead(cmd.Parameters, aid);
        await cmd.ExecuteScalarAsync(cancellationToken);
    }

    /// <summary>Runs the write on an open Npgsql connection.</summary>
    public static async Task WriteAsync(NpgsqlConnection connection, int aid, int delta, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(Write, connection);
        BindWrite(cmd.Parameters, aid, delta);
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }
}
