using Microsoft.EntityFrameworkCore.Storage;

namespace RoutingDataSource.EntityFrameworkCore;

/// <summary>
/// EF Core's command builder factory for contexts on <c>UseRoutingDataSource</c>: every command EF builds (queries,
/// SaveChanges batches, ExecuteUpdate/Delete, raw SQL, migrations) is a <see cref="RoutingRelationalCommand"/>.
/// </summary>
internal sealed class RoutingCommandBuilderFactory(RelationalCommandBuilderDependencies dependencies) : RelationalCommandBuilderFactory(dependencies)
{
    public override IRelationalCommandBuilder Create() => new Builder(Dependencies);

    private sealed class Builder(RelationalCommandBuilderDependencies dependencies) : RelationalCommandBuilder(dependencies)
    {
        public override IRelationalCommand Build()
        {
            var built = base.Build();
            return new RoutingRelationalCommand(Dependencies, built.CommandText, built.LogCommandText, built.Parameters);
        }
    }
}
