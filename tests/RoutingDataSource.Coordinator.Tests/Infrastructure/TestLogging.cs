using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace RoutingDataSource.Coordinator.Tests.Infrastructure;

/// <summary>Logs to the test output (with a clock) and keeps every line so tests can assert on decisions.</summary>
internal sealed class TestLogging(ITestOutputHelper output) : ILoggerFactory, ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly DateTime _start = DateTime.UtcNow;

    public IReadOnlyCollection<string> Lines => _lines;

    public bool Contains(string text) => _lines.Any(l => l.Contains(text, StringComparison.Ordinal));

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private void Write(string line)
    {
        _lines.Enqueue(line);
        try
        {
            output.WriteLine(line);
        }
        catch (InvalidOperationException)
        {
            // The test has ended; late lines are kept but not printed.
        }
    }

    private sealed class Logger(TestLogging owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information && !(category.StartsWith("Microsoft", StringComparison.Ordinal) && logLevel < LogLevel.Warning);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
                return;
            var t = (DateTime.UtcNow - owner._start).TotalSeconds;
            owner.Write($"[{t,7:0.000}] {logLevel.ToString()[..4]} {eventId.Id} {formatter(state, exception)}{(exception is null ? "" : " " + exception)}");
        }
    }
}
