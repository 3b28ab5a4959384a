using System.Globalization;
using Microsoft.Extensions.Logging;

namespace RoutingDataSource.Benchmarks.Comparison.Switchover;

/// <summary>
/// Every log line of the in-process coordinator into one file, each with its UTC time to the millisecond and the
/// milliseconds since the run started, so that where a switchover's time goes can be read off its steps.
/// </summary>
internal sealed class TimestampedFileLogger : ILoggerProvider, ILoggerFactory
{
    private readonly StreamWriter _file;
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();

    public TimestampedFileLogger(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        _file = new StreamWriter(path, append: false) { AutoFlush = true };
    }

    /// <summary>Milliseconds since the logger was created (the time base of its lines).</summary>
    public double Now => _clock.Elapsed.TotalMilliseconds;

    /// <summary>Writes a line of the harness's own (a trial's start and end) among the coordinator's.</summary>
    public void Mark(string text) => Write("bench", LogLevel.Information, text, null);

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException();

    public void Dispose()
    {
        lock (_file)
            _file.Dispose();
    }

    private void Write(string category, LogLevel level, string message, Exception? exception)
    {
        var line = string.Create(CultureInfo.InvariantCulture, $"{DateTime.UtcNow:HH:mm:ss.fff} {Now,9:0.0} {level,-11} {category}: {message}{(exception is null ? "" : " " + exception.Message)}");
        lock (_file)
        {
            if (_file.BaseStream.CanWrite)
                _file.WriteLine(line);
        }
    }

    private sealed class Logger(TimestampedFileLogger owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Write(category, logLevel, formatter(state, exception), exception);
    }
}
