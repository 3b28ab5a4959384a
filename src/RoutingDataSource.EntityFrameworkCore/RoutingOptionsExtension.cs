using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace RoutingDataSource.EntityFrameworkCore;

/// <summary>Carries the routing data source in the context options and adds the per-context <see cref="RoutingSession"/>.</summary>
internal sealed class RoutingOptionsExtension(PrimaryDataSource dataSource) : IDbContextOptionsExtension
{
    public PrimaryDataSource DataSource { get; } = dataSource;

    public DbContextOptionsExtensionInfo Info => field ??= new ExtensionInfo(this);

    public void ApplyServices(IServiceCollection services)
    {
        // Scoped in EF's internal provider: one per context instance, reset with a pooled context (IResettableService).
        services.AddScoped<RoutingSession>();
        services.AddScoped<IResettableService>(sp => sp.GetRequiredService<RoutingSession>());
    }

    public void Validate(IDbContextOptions options)
    {
    }

    private sealed class ExtensionInfo(IDbContextOptionsExtension extension) : DbContextOptionsExtensionInfo(extension)
    {
        public override bool IsDatabaseProvider => false;

        public override string LogFragment => "using RoutingDataSource ";

        // The data source is read from the options of each context, so contexts over different data sources can share
        // EF's internal service provider.
        public override int GetServiceProviderHashCode() => 0;

        public override bool ShouldUseSameServiceProvider(DbContextOptionsExtensionInfo other) => other is ExtensionInfo;

        public override void PopulateDebugInfo(IDictionary<string, string> debugInfo) => debugInfo["RoutingDataSource"] = "1";
    }
}
