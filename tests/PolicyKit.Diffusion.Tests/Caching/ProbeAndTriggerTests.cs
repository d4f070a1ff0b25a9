using PolicyKit.Diffusion.Caching;
using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Flops;
using PolicyKit.Diffusion.Generation;
using PolicyKit.Diffusion.Model;
using PolicyKit.Diffusion.Sampling;
using PolicyKit.Generated;
using TorchSharp;

namespace PolicyKit.Diffusion.Tests.Caching;

/// <summary>Refreshes everything and measures the attention received at every layer: a probe with no effect on the output.</summary>
internal sealed class MeasuringPolicy : ICachePolicy
{
    public string Name => "measuring";
    public bool UsesCache => true;
    public IReadOnlyList<PolicyParameter> Parameters => [];
    public LayerPlan Plan(in StepContext context) => LayerPlan.RefreshAll with { MeasureAttention = true };
}

/// <summary>
/// Reuses everything but the active block and runs a drift test at every layer after the first (layer 0 refreshes, so
/// the deeper inputs move); after a test fired, refreshes. Records the contexts it was given (a test double: not pure).
/// </summary>
internal sealed class DriftRecordingPolicy(double threshold) : ICachePolicy
{
    public List<(int Step, int Layer, int? TriggeredAt)> Contexts { get; } = [];
    public string Name => "drift-recording";
    public bool UsesCache => true;
    public IReadOnlyList<PolicyParameter> Parameters => [];

    public LayerPlan Plan(in StepContext context)
    {
        Contexts.Add((context.Step, context.Layer, context.TriggeredAtLayer));
        if (context.Step == 0 || context.Layer == 0 || context.TriggeredAtLayer is not null)
            return LayerPlan.RefreshAll with { MeasureAttention = true };
        return LayerPlan.ReuseAll with { ActiveBlock = SegmentAction.Refresh, Trigger = DriftTest.Create(threshold, Probe.Key) };
    }
}

/// <summary>
/// The probes and the cross-layer trigger on real generations: what they cost (counted in the one FLOPs place), that
/// measuring changes nothing, and that a fired test reaches exactly the later layers of its step. Counts only.
/// </summary>
public class ProbeAndTriggerTests
{
    private static (ModelDenoiser Denoiser, RecordingDenoiser Recording) Generate(DiffusionModel model, ICachePolicy? policy, SamplerOptions options, int promptLength)
    {
        var denoiser = new ModelDenoiser(model, policy);
        var recording = new RecordingDenoiser(denoiser);
        var prompt = TestModels.RandomIds(11, promptLength, model.Config.VocabSize - 8).Select(x => (int)x).ToArray();
        using (torch.no_grad())
            new DiffusionSampler(options).Run(recording, [prompt], default);
        return (denoiser, recording);
    }

    [Theory]
    [InlineData(Layout.LLaDA)]
    [InlineData(Layout.Dream)]
    public void Measuring_attention_changes_no_output_and_its_scores_are_counted_once_per_layer(Layout layout)
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, layout);
        using var model = DiffusionModel.Load(dir.Path);
        int prompt = 9, gen = 16;
        var options = new SamplerOptions { GenLength = gen, Steps = 8, BlockLength = 8 };
        var (none, noneRun) = Generate(model, null, options, prompt);
        var (measured, measuredRun) = Generate(model, new MeasuringPolicy(), options, prompt);
        using (none)
        using (measured)
        {
            Assert.Equal(noneRun.Logits.Count, measuredRun.Logits.Count);
            for (int s = 0; s < noneRun.Logits.Count; s++) Assert.Equal(noneRun.Logits[s], measuredRun.Logits[s]);  // bitwise

            // The probe scores the active block's queries against every key, once per layer and step, on top of the forward.
            var counter = FlopCounter.For(model.Config);
            double probe = measuredRun.Logits.Sum(l => model.Config.NumLayers * counter.AttentionScores(l.Length / model.Config.VocabSize, prompt + gen));
            Assert.Equal(none.Flops.Full, measured.Flops.Full);
            Assert.Equal(none.Flops.Executed + probe, measured.Flops.Executed, 6);
        }
        foreach (var t in noneRun.Inputs.Concat(measuredRun.Inputs)) t.Dispose();
    }

    [Theory]
    [InlineData(1.0)]    // any drift fires
    [InlineData(-1.0)]   // nothing fires: a cosine is never below -1
    public void A_fired_drift_test_is_seen_by_exactly_the_later_layers_of_its_step(double threshold)
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, Layout.LLaDA, sizes: TestModels.Tiny with { Layers = 5 });
        using var model = DiffusionModel.Load(dir.Path);
        int prompt = 8, gen = 16;
        var policy = new DriftRecordingPolicy(threshold);
        var (denoiser, recording) = Generate(model, policy, new SamplerOptions { GenLength = gen, Steps = 16, BlockLength = 8 }, prompt);
        using (denoiser)
        {
            var records = denoiser.Session!.Statistics.Records;
            var firstFired = records.Where(r => r.TriggerFired).GroupBy(r => r.Step).ToDictionary(g => g.Key, g => g.Min(r => r.Layer));
            Assert.Equal(records.Count(r => r.TriggerFired), firstFired.Count);   // one test fires per step at most
            foreach (var (step, layer, triggeredAt) in policy.Contexts)
            {
                int? expected = firstFired.TryGetValue(step, out var at) && at < layer ? at : null;
                Assert.True(expected == triggeredAt, $"step {step} layer {layer}: TriggeredAtLayer {triggeredAt}, expected {expected}");
            }
            foreach (var r in records.Where(r => r.Step > 0 && r.Layer > 0))
            {
                bool after = firstFired.TryGetValue(r.Step, out var at) && at < r.Layer;
                Assert.Equal(after ? prompt + gen : 8, r.RowsRecomputed);   // refreshed after the trigger, else the active block
            }
            if (threshold >= 1) Assert.NotEmpty(firstFired);
            else Assert.Empty(firstFired);
        }
        foreach (var t in recording.Inputs) t.Dispose();
    }

    [Theory]
    [InlineData(Layout.LLaDA)]
    [InlineData(Layout.Dream)]
    public void Elastic_cache_recomputes_the_block_and_everything_after_the_layer_whose_test_fired(Layout layout)
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, layout, sizes: TestModels.Tiny with { Layers = 5 });
        using var model = DiffusionModel.Load(dir.Path);
        int prompt = 10, gen = 32, block = 8, stepsPerBlock = 4;
        var (denoiser, recording) = Generate(model, PolicyKitPoliciesPolicyRegistry.Create("elastic-cache"),
            new SamplerOptions { GenLength = gen, Steps = 16, BlockLength = block }, prompt);
        using (denoiser)
        {
            var records = denoiser.Session!.Statistics.Records;
            var firstFired = records.Where(r => r.TriggerFired).GroupBy(r => r.Step).ToDictionary(g => g.Key, g => g.Min(r => r.Layer));
            foreach (var r in records)
            {
                bool blockStart = r.Step % stepsPerBlock == 0;   // the sampler runs blocks on both layouts here
                bool refreshed = blockStart || (firstFired.TryGetValue(r.Step, out var at) && at < r.Layer);
                int expected = refreshed ? prompt + gen : block;
                Assert.True(expected == r.RowsRecomputed, $"step {r.Step} layer {r.Layer}: {r.RowsRecomputed} rows, expected {expected} ({r.Plan})");
                Assert.True(!r.TriggerFired || !blockStart, $"step {r.Step}: a block start runs no drift test");
            }
        }
        foreach (var t in recording.Inputs) t.Dispose();
    }

    [Theory]
    [InlineData(Layout.LLaDA)]
    [InlineData(Layout.Dream)]
    public void D2cache_recomputes_a_quarter_of_the_masked_rows_a_tenth_of_the_others_and_the_just_decoded(Layout layout)
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, layout);
        using var model = DiffusionModel.Load(dir.Path);
        int prompt = 10, gen = 32, block = 16, stepsPerBlock = 8;
        var (denoiser, recording) = Generate(model, PolicyKitPoliciesPolicyRegistry.Create("d2cache"),
            new SamplerOptions { GenLength = gen, Steps = 16, BlockLength = block }, prompt);
        using (denoiser)
        {
            var inputs = recording.Inputs.Select(t => t.data<long>().ToArray()).ToList();
            bool Masked(int step, int c) => inputs[step][c] == model.MaskTokenId;
            foreach (var r in denoiser.Session!.Statistics.Records)
            {
                bool blockStart = r.Step % stepsPerBlock == 0;   // the sampler runs blocks on both layouts here
                int masked = Enumerable.Range(prompt, gen).Count(c => Masked(r.Step, c));
                int justDecoded = r.Step == 0 ? 0 : Enumerable.Range(prompt, gen).Count(c => Masked(r.Step - 1, c) && !Masked(r.Step, c));
                int settled = gen - masked - justDecoded;
                // Step 1 has no confidence recorded yet: every masked row is recomputed, as a row with nothing measured.
                int certain = r.Step == 1 ? masked : (int)Math.Floor(0.25 * masked);
                int expected = blockStart ? prompt + gen : justDecoded + certain + (int)Math.Floor(0.1 * settled);
                Assert.True(expected == r.RowsRecomputed, $"step {r.Step} layer {r.Layer}: {r.RowsRecomputed} rows, expected {expected} ({r.Plan})");
            }
            Assert.True(denoiser.Flops.Executed < denoiser.Flops.Full, $"{denoiser.Flops}");
        }
        foreach (var t in recording.Inputs) t.Dispose();
    }
}
