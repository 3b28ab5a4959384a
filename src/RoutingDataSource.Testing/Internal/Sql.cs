using Npgsql;

namespace RoutingDataSource.Testing.Internal;

/// <summary>One-shot statements on a fresh, unpooled connection (the harness's own queries).</summary>
internal static class Sql
{
    /// <summary>Runs a statement; returns the rows affected.</summary>
    public static async Task<int> ExecuteAsync(string connectionString, string sql, CancellationToken cancellationToken, params object[] parameters)
    {
        var connection = new NpgsqlConnection(connectionString);
        await using (connection.ConfigureAwait(false))
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            var command = CreateCommand(connection, sql, parameters);
            await using (command.ConfigureAwait(false))
            {
                return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Runs a query; returns the first column of the first row, or default when there is none or it is NULL.</summary>
    public static async Task<T?> ScalarAsync<T>(string connectionString, string sql, CancellationToken cancellationToken, params object[] parameters)
    {
        var connection = new NpgsqlConnection(connectionString);
        await using (connection.ConfigureAwait(false))
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            var command = CreateCommand(connection, sql, parameters);
            await using (command.ConfigureAwait(false))
            {
                var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false)
                        || await reader.IsDBNullAsync(0, cancellationToken).ConfigureAwait(false))
                    {
                        return default;
                    }

                    return await reader.GetFieldValueAsync<T>(0, cancellationToken).ConfigureAwait(false);
                }
            }
        }
    }

    private static NpgsqlCommand CreateCommand(NpgsqlConnection connection, string sql, object[] parameters)
    {
#pragma warning disable CA2100 // The harness runs the test author's SQL by design; values go through parameters.
        var command = new NpgsqlCommand(sql, connection);
#pragma warning restore CA2100
        foreach (var value in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        }

        return command;
    }
}
