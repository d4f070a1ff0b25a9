using System.Diagnostics.Metrics;

namespace PolicyKit.Hosting;

/// <summary>
/// The instruments of the <c>PolicyKit</c> meter (names in <see cref="PolicyKitTelemetry.Instruments"/>). One per
/// container: created through the host's <see cref="IMeterFactory"/> when it has one (<c>services.AddMetrics()</c>, as
/// every generic host does), otherwise on a meter of its own, disposed with it. A <see cref="MeterListener"/> tells
/// two containers apart by <see cref="Meter"/>.
/// </summary>
public sealed class PolicyKitMetrics : IDisposable
{
    private readonly bool _ownsMeter;

    public PolicyKitMetrics(IMeterFactory? meterFactory = null)
    {
        var options = new MeterOptions(PolicyKitTelemetry.Name) { Version = typeof(PolicyKitMetrics).Assembly.GetName().Version?.ToString() };
        _ownsMeter = meterFactory is null;
        Meter = meterFactory?.Create(options) ?? new Meter(options);

        Generations = Meter.CreateCounter<long>(PolicyKitTelemetry.Instruments.Generations, "{generation}", "Generations run.");
        TokenUsage = Meter.CreateHistogram<long>(PolicyKitTelemetry.Instruments.TokenUsage, "{token}", "Tokens per generation: input (prompt) and output (up to end-of-sequence).",
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [1, 4, 16, 64, 256, 1024, 4096, 16384] });
        OperationDuration = Meter.CreateHistogram<double>(PolicyKitTelemetry.Instruments.OperationDuration, "s", "Wall-clock time of a generation.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92] });
        Steps = Meter.CreateCounter<long>(PolicyKitTelemetry.Instruments.Steps, "{step}", "Denoising steps (forward passes) run.");
        StepDuration = Meter.CreateHistogram<double>(PolicyKitTelemetry.Instruments.StepDuration, "s", "Wall-clock time of one denoising step.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5] });
        FlopsExecuted = Meter.CreateCounter<double>(PolicyKitTelemetry.Instruments.FlopsExecuted, "{FLOP}", "FLOPs executed under the cache policy.");
        FlopsFull = Meter.CreateCounter<double>(PolicyKitTelemetry.Instruments.FlopsFull, "{FLOP}", "FLOPs the uncached model would have executed for the same forwards.");
        RowsRecomputed = Meter.CreateHistogram<double>(PolicyKitTelemetry.Instruments.RowsRecomputed, "1", "Share of layer rows a generation recomputed (1 without a cache).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1] });
    }

    /// <summary>The <c>PolicyKit</c> meter these instruments belong to.</summary>
    public Meter Meter { get; }

    public Counter<long> Generations { get; }
    public Histogram<long> TokenUsage { get; }
    public Histogram<double> OperationDuration { get; }
    public Counter<long> Steps { get; }
    public Histogram<double> StepDuration { get; }
    public Counter<double> FlopsExecuted { get; }
    public Counter<double> FlopsFull { get; }
    public Histogram<double> RowsRecomputed { get; }

    public void Dispose()
    {
        // A factory's meters belong to the factory (it disposes them with the container).
        if (_ownsMeter) Meter.Dispose();
    }
}
