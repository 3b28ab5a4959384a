using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql.EntityFrameworkCore.PostgreSQL.Migrations.Internal;

namespace RoutingDataSource.EntityFrameworkCore;

#pragma warning disable EF1001 // the provider's migrator is EF-pubternal; its constructor is the provider's (10.x)

/// <summary>
/// The provider's migrator, with the context's own connection really opened while it runs: after a migration that
/// adds an enum, range or extension the provider reloads Npgsql's types on that connection, which must be open
/// (<see cref="RoutingInterceptor"/> otherwise leaves it closed outside transactions).
/// </summary>
internal sealed class RoutingMigrator(
    IMigrationsAssembly migrationsAssembly,
    IHistoryRepository historyRepository,
    IDatabaseCreator databaseCreator,
    IMigrationsSqlGenerator migrationsSqlGenerator,
    IRawSqlCommandBuilder rawSqlCommandBuilder,
    IMigrationCommandExecutor migrationCommandExecutor,
    IRelationalConnection connection,
    ISqlGenerationHelper sqlGenerationHelper,
    ICurrentDbContext currentContext,
    IModelRuntimeInitializer modelRuntimeInitializer,
    IDiagnosticsLogger<DbLoggerCategory.Migrations> logger,
    IRelationalCommandDiagnosticsLogger commandLogger,
    IDatabaseProvider databaseProvider,
    IMigrationsModelDiffer migrationsModelDiffer,
    IDesignTimeModel designTimeModel,
    IDbContextOptions contextOptions,
    IExecutionStrategy executionStrategy)
    : NpgsqlMigrator(migrationsAssembly, historyRepository, databaseCreator, migrationsSqlGenerator, rawSqlCommandBuilder,
        migrationCommandExecutor, connection, sqlGenerationHelper, currentContext, modelRuntimeInitializer, logger, commandLogger,
        databaseProvider, migrationsModelDiffer, designTimeModel, contextOptions, executionStrategy)
{
    private readonly ICurrentDbContext _context = currentContext;

    public override void Migrate(string? targetMigration)
    {
        var s = Opening(true);
        try
        {
            base.Migrate(targetMigration);
        }
        finally
        {
            s?.OpensContextConnection = false;
        }
    }

    public override async Task MigrateAsync(string? targetMigration, CancellationToken cancellationToken = default)
    {
        var s = Opening(true);
        try
        {
            await base.MigrateAsync(targetMigration, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            s?.OpensContextConnection = false;
        }
    }

    private RoutingSession? Opening(bool really)
    {
        var s = RoutingSession.Of(_context.Context);
        s?.OpensContextConnection = really;
        return s;
    }
}
