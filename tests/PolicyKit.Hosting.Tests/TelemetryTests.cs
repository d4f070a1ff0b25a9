using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using PolicyKit.Diffusion.Sampling;

namespace PolicyKit.Hosting.Tests;

/// <summary>The PolicyKit meter and activity source, read with the runtime's own listeners (no exporter).</summary>
public sealed class TelemetryTests(TinyModel model) : IClassFixture<TinyModel>
{
    [Fact]
    public async Task A_generation_records_tokens_steps_flops_and_latency()
    {
        using var provider = Hosts.Build(Hosts.Settings(model.Directory));
        var meter = provider.GetRequiredService<PolicyKitMetrics>().Meter;
        var measurements = new List<(string Instrument, double Value, Dictionary<string, object?> Tags)>();
        using var listener = new MeterListener();
        // Only this container's meter: other tests generate at the same time on meters of their own.
        listener.InstrumentPublished = (instrument, l) => { if (ReferenceEquals(instrument.Meter, meter)) l.EnableMeasurementEvents(instrument); };
        void Add(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var copy = new Dictionary<string, object?>();
            foreach (var tag in tags) copy[tag.Key] = tag.Value;
            lock (measurements) measurements.Add((instrument.Name, value, copy));
        }
        listener.SetMeasurementEventCallback<long>((i, v, t, _) => Add(i, v, t));
        listener.SetMeasurementEventCallback<double>((i, v, t, _) => Add(i, v, t));
        listener.Start();

        var generator = provider.GetRequiredService<IDiffusionGenerator>();
        var cached = await generator.GenerateAsync("Hello there", "dllm-cache");
        var plain = await generator.GenerateAsync("Hello there", "none");
        int promptTokens = generator.Model.Tokenizer.Encode("Hello there").Length;

        Assert.Equal(PolicyKitTelemetry.Name, meter.Name);
        List<(string Instrument, double Value, Dictionary<string, object?> Tags)> Of(string instrument, string policy)
        {
            lock (measurements) return measurements.Where(m => m.Instrument == instrument && (string?)m.Tags[PolicyKitTelemetry.Tags.Policy] == policy).ToList();
        }
        foreach (var (policy, result) in new[] { ("dllm-cache", cached), ("none", plain) })
        {
            Assert.Equal(1, Of(PolicyKitTelemetry.Instruments.Generations, policy).Single().Value);
            var tokens = Of(PolicyKitTelemetry.Instruments.TokenUsage, policy);
            Assert.Equal(promptTokens, tokens.Single(m => (string?)m.Tags[PolicyKitTelemetry.Tags.TokenType] == "input").Value);
            var output = tokens.Single(m => (string?)m.Tags[PolicyKitTelemetry.Tags.TokenType] == "output").Value;
            int eos = result.TokenIds.ToList().IndexOf(generator.Model.Tokenizer.EosTokenId!.Value);
            Assert.Equal(eos < 0 ? result.TokenIds.Count : eos, output);
            Assert.Equal(result.Steps, Of(PolicyKitTelemetry.Instruments.Steps, policy).Sum(m => m.Value));
            var stepTimes = Of(PolicyKitTelemetry.Instruments.StepDuration, policy);
            Assert.Equal(result.Steps, stepTimes.Count);
            Assert.All(stepTimes, m => Assert.True(m.Value > 0));
            Assert.Equal(result.Flops.Executed, Of(PolicyKitTelemetry.Instruments.FlopsExecuted, policy).Single().Value);
            Assert.Equal(result.Flops.Full, Of(PolicyKitTelemetry.Instruments.FlopsFull, policy).Single().Value);
            Assert.Equal(result.RecomputeFraction, Of(PolicyKitTelemetry.Instruments.RowsRecomputed, policy).Single().Value);
            Assert.True(Of(PolicyKitTelemetry.Instruments.OperationDuration, policy).Single().Value > 0);
        }
        // The cache really saves work, and the counters say so.
        Assert.True(cached.Flops.Executed < cached.Flops.Full);
        Assert.Equal(plain.Flops.Full, plain.Flops.Executed);
    }

    [Fact]
    public async Task A_generation_is_an_activity_under_the_callers_with_its_outcome()
    {
        var stopped = new List<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == PolicyKitTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity => { lock (stopped) stopped.Add(activity); },
        };
        ActivitySource.AddActivityListener(listener);
        using var provider = Hosts.Build(Hosts.Settings(model.Directory));
        var generator = provider.GetRequiredService<IDiffusionGenerator>();

        using var parent = new Activity("test-request").Start();
        var result = await generator.GenerateAsync("Hello", "fast-dllm-dual");
        await Assert.ThrowsAsync<ArgumentException>(() => generator.GenerateAsync(new string('x', 5000), "none"));
        parent.Stop();

        List<Activity> mine;
        lock (stopped) mine = stopped.Where(a => a.ParentSpanId == parent.SpanId).ToList();
        Assert.Equal(2, mine.Count);
        var ok = mine.Single(a => a.Status != ActivityStatusCode.Error);
        Assert.Equal(PolicyKitTelemetry.GenerateActivityName, ok.OperationName);
        Assert.Equal("fast-dllm-dual", ok.GetTagItem(PolicyKitTelemetry.Tags.Policy));
        Assert.Equal(result.Steps, ok.GetTagItem(PolicyKitTelemetry.Tags.Steps));
        Assert.Equal(result.Flops.Executed, ok.GetTagItem(PolicyKitTelemetry.Tags.FlopsExecuted));
        Assert.Equal(16, ok.GetTagItem(PolicyKitTelemetry.Tags.GenLength));
        var failed = mine.Single(a => a.Status == ActivityStatusCode.Error);
        Assert.Equal(typeof(ArgumentException).FullName, failed.GetTagItem(PolicyKitTelemetry.Tags.ErrorType));
    }

    [Fact]
    public async Task Step_reports_show_each_step_and_end_at_the_answer()
    {
        using var provider = Hosts.Build(Hosts.Settings(model.Directory));
        var generator = provider.GetRequiredService<IDiffusionGenerator>();
        var reports = new List<SamplerStepReport>();
        var result = await generator.GenerateAsync("Hello", generator.DefaultOptions, "dllm-cache", reports.Add);
        var silent = await generator.GenerateAsync("Hello", generator.DefaultOptions, "dllm-cache");

        Assert.Equal(result.Steps, reports.Count);
        Assert.Equal(silent.TokenIds, result.TokenIds); // listening changes nothing
        var last = reports[^1];
        Assert.Equal(result.TokenIds, last.Tokens[0][last.Step.PromptLength..]);
        foreach (var report in reports)
        {
            var predicted = Assert.Single(report.Predicted!);
            Assert.Equal(report.Step.ActiveBlockLength, predicted.Length);
            // What a step commits is what it predicted there.
            foreach (var column in report.Committed[0])
                Assert.Equal(report.Tokens[0][column], predicted[column - report.Step.LogitsStart]);
        }
    }
}
