using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;

namespace RoutingDataSource.Chaos.Cluster;

/// <summary>
/// A logger factory that writes every line to a file (with the run's clock) and counts the lines that show a
/// physical connection used twice or a desynchronised protocol: its own categories from the given level, others
/// (Npgsql, whose Information level logs every command) from Warning. Given to the data source (and so to Npgsql) and,
/// as a separate instance, to the coordinator.
/// </summary>
internal sealed class LogFile : ILoggerFactory, ILoggerProvider
{
    /// <summary>Texts that mean one connection served two operations at once, or a reply went to the wrong statement.</summary>
    public static readonly string[] ConnectionMisusePatterns =
    [
        "A command is already in progress",
        "while expecting",
        "Connection already open",
        "Can't close, connection is in state",
        "Received backend message",
        "An open data reader exists",
    ];

    private readonly StreamWriter _file;
    private readonly RunClock _clock;
    private readonly LogLevel _ownLevel;
    private readonly string _ownPrefix;
    private readonly Lock _write = new();
    private readonly ConcurrentDictionary<string, int> _matches = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _samples = new();
    private int _warnings;
    private int _errors;
    private int _disposed;

    public LogFile(string path, RunClock clock, string ownPrefix, LogLevel ownLevel)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        _file = new StreamWriter(path, append: false) { AutoFlush = false };
        _clock = clock;
        _ownPrefix = ownPrefix;
        _ownLevel = ownLevel;
        FilePath = path;
    }

    public string FilePath { get; }

    /// <summary>Lines matching each of <see cref="ConnectionMisusePatterns"/> (a line counts once per pattern).</summary>
    public IReadOnlyDictionary<string, int> Matches => _matches;

    /// <summary>The first matching lines, for the report.</summary>
    public IReadOnlyCollection<string> Samples => _samples;

    public int Warnings => _warnings;

    public int Errors => _errors;

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName, "");

    /// <summary>The same file, every line of this factory's loggers headed by "[<paramref name="name"/>] " (one of several coordinators).</summary>
    public ILoggerFactory Named(string name) => new NamedFactory(this, "[" + name + "] ");

    public void AddProvider(ILoggerProvider provider)
    {
    }

    /// <summary>Counts <paramref name="text"/> against the patterns; returns whether any matched.</summary>
    public static IEnumerable<string> MatchingPatterns(string text) =>
        ConnectionMisusePatterns.Where(p => text.Contains(p, StringComparison.Ordinal));

    public void Flush()
    {
        lock (_write)
        {
            if (_disposed == 0)
                _file.Flush();
        }
    }

    public void Dispose()
    {
        lock (_write)
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 1)
                return;
            _file.Flush();
            _file.Dispose();
        }
    }

    private bool IsEnabled(string category, LogLevel level) =>
        level != LogLevel.None && level >= (category.StartsWith(_ownPrefix, StringComparison.Ordinal) ? _ownLevel : LogLevel.Warning);

    private void Write(string category, LogLevel level, EventId eventId, string message, Exception? exception)
    {
        var text = exception is null ? message : message + " | " + exception;
        if (level >= LogLevel.Error)
            Interlocked.Increment(ref _errors);
        else if (level == LogLevel.Warning)
            Interlocked.Increment(ref _warnings);
        var line = string.Create(CultureInfo.InvariantCulture, $"[{_clock.Now,9:0.000}] {level.ToString()[..4]} {category} {eventId.Id} {text.ReplaceLineEndings(" \\ ")}");
        foreach (var pattern in MatchingPatterns(text))
        {
            _matches.AddOrUpdate(pattern, 1, (_, n) => n + 1);
            if (_samples.Count < 20)
                _samples.Enqueue(line.Length > 600 ? line[..600] + "..." : line);
        }

        lock (_write)
        {
            if (_disposed == 0)
                _file.WriteLine(line);
        }
    }

    private sealed class Logger(LogFile owner, string category, string prefix) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => owner.IsEnabled(category, logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
                owner.Write(category, logLevel, eventId, prefix + formatter(state, exception), exception);
        }
    }

    private sealed class NamedFactory(LogFile owner, string prefix) : ILoggerFactory
    {
        public ILogger CreateLogger(string categoryName) => new Logger(owner, categoryName, prefix);

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
        }
    }
}
