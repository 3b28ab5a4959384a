using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace RoutingDataSource.Coordinator.Http;

/// <summary>
/// <c>GET /metrics</c>: this coordinator's instruments (its own meters only, so that several coordinators in one
/// process never mix) in the Prometheus text exposition format, aggregated by a <see cref="MeterListener"/>: counters
/// as <c>_total</c>, histograms as cumulative buckets with <c>_sum</c> and <c>_count</c>, gauges as last observed.
/// Names are the instrument names with '.' as '_' and the unit appended (<c>_seconds</c>).
/// </summary>
internal sealed class PrometheusMetrics : IDisposable
{
    private static readonly double[] Bounds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    private readonly MeterListener _listener = new();
    private readonly Func<IReadOnlyCollection<Meter>> _meters;
    private readonly Lock _gate = new();
    private readonly Dictionary<(Instrument Instrument, string Labels), Series> _series = [];

    public PrometheusMetrics(Func<IReadOnlyCollection<Meter>> meters)
    {
        _meters = meters;
        // Enabled by meter name: an election's meter is made before it is known here; measurements are filtered by meter.
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == Ha.HaMetrics.MeterName)
                listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Record(i, v, tags));
        _listener.Start();
    }

    public string Render()
    {
        _listener.RecordObservableInstruments();
        var text = new StringBuilder();
        lock (_gate)
        {
            foreach (var group in _series.GroupBy(s => s.Key.Instrument).OrderBy(g => g.Key.Name, StringComparer.Ordinal))
            {
                var instrument = group.Key;
                var name = NameOf(instrument);
                var type = instrument switch
                {
                    Counter<long> => "counter",
                    Histogram<double> => "histogram",
                    _ => "gauge",
                };
                // The 0.0.4 text format types the sample name itself: a counter's is name_total.
                var family = type == "counter" ? name + "_total" : name;
                if (instrument.Description is { Length: > 0 } help)
                    text.Append("# HELP ").Append(family).Append(' ').Append(help.Replace("\n", " ", StringComparison.Ordinal)).Append('\n');
                text.Append("# TYPE ").Append(family).Append(' ').Append(type).Append('\n');
                foreach (var (key, series) in group)
                {
                    if (type == "histogram")
                    {
                        var cumulative = 0L;
                        for (var b = 0; b < Bounds.Length; b++)
                        {
                            cumulative += series.Buckets[b];
                            Line(text, name + "_bucket", With(key.Labels, "le=\"" + Bounds[b].ToString(CultureInfo.InvariantCulture) + "\""), cumulative);
                        }
                        Line(text, name + "_bucket", With(key.Labels, "le=\"+Inf\""), series.Count);
                        Line(text, name + "_sum", key.Labels, series.Sum);
                        Line(text, name + "_count", key.Labels, series.Count);
                    }
                    else
                    {
                        Line(text, family, key.Labels, series.Sum);
                    }
                }
            }
        }
        return text.ToString();
    }

    public void Dispose() => _listener.Dispose();

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (!_meters().Contains(instrument.Meter))
            return;
        var labels = Labels(tags);
        lock (_gate)
        {
            if (!_series.TryGetValue((instrument, labels), out var series))
                _series[(instrument, labels)] = series = new Series();
            switch (instrument)
            {
                case Histogram<double>:
                    series.Count++;
                    series.Sum += value;
                    var bucket = Array.FindIndex(Bounds, b => value <= b);
                    if (bucket >= 0)
                        series.Buckets[bucket]++;
                    break;
                case Counter<long>:
                    series.Sum += value;
                    break;
                default:
                    series.Sum = value;
                    break;
            }
        }
    }

    private static string NameOf(Instrument instrument)
    {
        var name = instrument.Name.Replace('.', '_');
        return instrument.Unit == "s" ? name + "_seconds" : name;
    }

    private static string Labels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var pairs = new List<string>(tags.Length);
        foreach (var (key, value) in tags)
        {
            var text = value switch
            {
                bool b => b ? "true" : "false",
                IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
                _ => value?.ToString() ?? "",
            };
            pairs.Add($"{key.Replace('.', '_')}=\"{text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal)}\"");
        }
        pairs.Sort(StringComparer.Ordinal);
        return string.Join(',', pairs);
    }

    private static string With(string labels, string extra) => labels.Length == 0 ? extra : labels + "," + extra;

    private static void Line(StringBuilder text, string name, string labels, double value)
    {
        text.Append(name);
        if (labels.Length > 0)
            text.Append('{').Append(labels).Append('}');
        text.Append(' ').Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
    }

    private sealed class Series
    {
        public long Count;
        public double Sum;
        public readonly long[] Buckets = new long[Bounds.Length];
    }
}
