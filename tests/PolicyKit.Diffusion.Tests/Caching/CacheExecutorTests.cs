using PolicyKit.Diffusion.Caching;
using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Flops;
using PolicyKit.Diffusion.Generation;
using PolicyKit.Diffusion.Model;
using PolicyKit.Diffusion.Sampling;
using PolicyKit.Generated;
using TorchSharp;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Tests.Caching;

/// <summary>Recomputes every segment adaptively with ratio 1: the gather/scatter path over every row.</summary>
internal sealed class AdaptiveEverything : ICachePolicy
{
    public string Name => "adaptive-everything";
    public bool UsesCache => true;
    public IReadOnlyList<PolicyParameter> Parameters => [];
    public LayerPlan Plan(in StepContext context) => LayerPlan.All(SegmentAction.AdaptiveRatio(1, Probe.Value));
}

/// <summary>Records the input tokens and logits of every step, around the real denoiser.</summary>
internal sealed class RecordingDenoiser(ModelDenoiser inner) : IDenoiser
{
    public List<double[]> Logits { get; } = [];
    public List<Tensor> Inputs { get; } = [];
    public int MaskTokenId => inner.MaskTokenId;
    public int VocabularySize => inner.VocabularySize;
    public Device Device => inner.Device;

    public Tensor Predict(Tensor tokens, Tensor? attentionMask, in DenoiseStep step)
    {
        Inputs.Add(tokens.clone().DetachFromDisposeScope());
        var logits = inner.Predict(tokens, attentionMask, step);
        Logits.Add(TestModels.ToDoubles(logits));
        return logits;
    }
}

/// <summary>
/// Teacher forcing: the wrapped denoiser sees, at every step, the tokens a reference run saw, and the sampler is
/// handed the reference's logits, so both runs follow one trajectory even when rounding would flip a near-tied token.
/// </summary>
internal sealed class ReplayingDenoiser(ModelDenoiser inner, RecordingDenoiser reference) : IDenoiser
{
    public List<double[]> Logits { get; } = [];
    public int MaskTokenId => inner.MaskTokenId;
    public int VocabularySize => inner.VocabularySize;
    public Device Device => inner.Device;

    public Tensor Predict(Tensor tokens, Tensor? attentionMask, in DenoiseStep step)
    {
        int s = Logits.Count;
        var logits = inner.Predict(reference.Inputs[s], attentionMask, step);
        Logits.Add(TestModels.ToDoubles(logits));
        return tensor(reference.Logits[s], logits.shape).to_type(logits.dtype);
    }
}

public class CacheExecutorTests
{
    private sealed record Run(List<SamplerStepReport> Reports, List<double[]> Logits, ModelDenoiser Denoiser);

    private static Run Generate(DiffusionModel model, ICachePolicy? policy, SamplerOptions options, int[][] prompts, bool deferResidualAdds = true)
    {
        var denoiser = new ModelDenoiser(model, policy);
        if (denoiser.Session is { } session) session.DefersResidualAdds = deferResidualAdds;
        var recording = new RecordingDenoiser(denoiser);
        var reports = new List<SamplerStepReport>();
        using (torch.no_grad())
            new DiffusionSampler(options).Run(recording, prompts, default, reports.Add);
        return new Run(reports, recording.Logits, denoiser);
    }

    private static int[][] Prompts(int vocab, params int[] lengths) =>
        lengths.Select((n, i) => TestModels.RandomIds(100 + i, n, vocab - 8).Select(x => (int)x).ToArray()).ToArray();

    public static TheoryData<Layout, int, int, int, int> Settings => new()
    {
        { Layout.LLaDA, 12, 16, 16, 8 },     // 2 blocks
        { Layout.LLaDA, 5, 12, 12, 4 },      // 3 blocks, short prompt
        { Layout.Dream, 9, 10, 10, 10 },     // one block (Dream)
        { Layout.Dream, 20, 8, 8, 4 },       // blocks on a Dream-layout model, GQA + biases
    };

    [Theory]
    [MemberData(nameof(Settings))]
    public void Always_refresh_reproduces_the_uncached_model_bitwise_at_every_step(
        Layout layout, int promptLength, int gen, int steps, int block)
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, layout);
        using var model = DiffusionModel.Load(dir.Path);
        var options = new SamplerOptions { GenLength = gen, Steps = steps, BlockLength = block };
        var prompts = Prompts(model.Config.VocabSize, promptLength);

        var none = Generate(model, null, options, prompts);
        // Both paths are counted by the same layer code: none costs the full forward, and so does always-refresh.
        var counter = FlopCounter.For(model.Config);
        var full = none.Reports.Count * counter.FullForward(1, promptLength + gen, block);  // logits for the active block
        Assert.Equal(new FlopCount(full, full), none.Denoiser.Flops);
        var cached = Generate(model, PolicyKitPoliciesPolicyRegistry.Create("always-refresh"), options, prompts);
        Assert.Equal(none.Denoiser.Flops, cached.Denoiser.Flops);
        Assert.Equal(none.Reports.Count, cached.Reports.Count);
        for (int s = 0; s < none.Reports.Count; s++)
        {
            Assert.Equal(none.Reports[s].Tokens, cached.Reports[s].Tokens);
            Assert.Equal(none.Logits[s], cached.Logits[s]);
        }
        none.Denoiser.Dispose();
        cached.Denoiser.Dispose();
    }

    [Theory]
    [MemberData(nameof(Settings))]
    public void Adaptive_ratio_one_reproduces_the_uncached_logits_to_rounding_at_every_step(
        Layout layout, int promptLength, int gen, int steps, int block)
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, layout);
        using var model = DiffusionModel.Load(dir.Path);
        var options = new SamplerOptions { GenLength = gen, Steps = steps, BlockLength = block };
        var prompts = Prompts(model.Config.VocabSize, promptLength);

        using var reference = new ModelDenoiser(model, null);
        var recorded = new RecordingDenoiser(reference);
        using (torch.no_grad())
            new DiffusionSampler(options).Run(recorded, prompts, default);
        // The gather/scatter path sums the same products in another row order: equal to fp32 rounding, not bitwise,
        // so it is fed the uncached run's tokens at every step (a near-tied token may round the other way).
        using var gathered = new ModelDenoiser(model, new AdaptiveEverything());
        var replayed = new ReplayingDenoiser(gathered, recorded);
        using (torch.no_grad())
            new DiffusionSampler(options).Run(replayed, prompts, default);

        Assert.Equal(recorded.Logits.Count, replayed.Logits.Count);
        for (int s = 0; s < recorded.Logits.Count; s++)
        {
            var diff = recorded.Logits[s].Zip(replayed.Logits[s], (a, b) => Math.Abs(a - b)).Max();
            Assert.True(diff <= 1e-4, $"step {s}: logits differ by {diff}");
        }
        foreach (var input in recorded.Inputs) input.Dispose();
    }

    [Fact]
    public void Dllm_cache_executes_exactly_its_plan_and_fewer_flops()
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, Layout.LLaDA);
        using var model = DiffusionModel.Load(dir.Path);
        int prompt = 24, gen = 32;
        var options = new SamplerOptions { GenLength = gen, Steps = 32, BlockLength = 8 };
        var run = Generate(model, PolicyKitPoliciesPolicyRegistry.Create("dllm-cache"), options, Prompts(model.Config.VocabSize, prompt));
        using var denoiser = run.Denoiser;
        var records = denoiser.Session!.Statistics.Records;

        Assert.Equal(32 * model.Config.NumLayers, records.Count);
        foreach (var r in records)
        {
            int expected = r.Layer == 0 || r.Step % 7 == 0
                ? prompt + gen                                     // layer 0, and response refreshes (K_r = 7; step 0 refreshes the prompt too)
                : (int)Math.Floor(0.25 * gen);                     // V-verify: floor(rho * R) response rows, prompt reused (K_p = 100)
            if (r.Layer > 0 && r.Step % 7 == 0 && r.Step % 100 != 0) expected = gen;  // response refresh only
            Assert.True(expected == r.RowsRecomputed, $"step {r.Step} layer {r.Layer}: {r.RowsRecomputed} rows, expected {expected} ({r.Plan})");
        }
        Assert.True(denoiser.Flops.Executed < denoiser.Flops.Full, $"{denoiser.Flops}");
        Assert.InRange(denoiser.RecomputeFraction, 0.05, 0.9);
    }

    [Fact]
    public void The_ratio_selector_counts_floor_of_ratio_times_rows_in_double_as_the_reference_does()
    {
        // dLLM-Cache's int(0.35 * 180) in Python's double is 62 (0.35 * 180 = 62.99999999999999); float32
        // arithmetic rounds the product up to 63.
        using var dir = new TempDir();
        TestModels.Write(dir.Path, Layout.LLaDA);
        using var model = DiffusionModel.Load(dir.Path);
        var policy = new FixedPlanPolicy(LayerPlan.Split(SegmentAction.Reuse, SegmentAction.AdaptiveRatio(0.35, Probe.Value)));
        var run = Generate(model, policy, new SamplerOptions { GenLength = 180, Steps = 4, BlockLength = 180 }, Prompts(model.Config.VocabSize, 5));
        using var denoiser = run.Denoiser;
        var later = denoiser.Session!.Statistics.Records.Where(r => r.Step > 0).ToList();
        Assert.NotEmpty(later);
        Assert.All(later, r => Assert.Equal(62, r.RowsRecomputed));
    }

    [Fact]
    public void Threshold_selector_recomputes_the_rows_below_the_threshold_in_every_sequence()
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, Layout.LLaDA);
        using var model = DiffusionModel.Load(dir.Path);
        var policy = new FixedPlanPolicy(LayerPlan.Split(SegmentAction.Reuse, SegmentAction.AdaptiveThreshold(2 / 3f, Probe.Input)));
        var run = Generate(model, policy, new SamplerOptions { GenLength = 8, Steps = 8, BlockLength = 8 }, Prompts(model.Config.VocabSize, 6, 9));
        using var denoiser = run.Denoiser;
        // Threshold 2/3 on the input probe: step 0 refreshes all, later steps only what moved; never the prompt.
        var later = denoiser.Session!.Statistics.Records.Where(r => r.Step > 0).ToList();
        Assert.All(later, r => Assert.InRange(r.RowsRecomputed, 0, 8));
    }

    public static TheoryData<Layout, string> DeferralCases => new()
    {
        { Layout.LLaDA, "dllm-cache" }, { Layout.LLaDA, "fast-dllm-dual" }, { Layout.LLaDA, "elastic-cache" },
        { Layout.LLaDA, "depth-hybrid" }, { Layout.LLaDA, "d2cache" }, { Layout.LLaDA, "prompt-refresh-at-layer-3" },
        { Layout.LLaDA, "full-refresh-at-layer-3" },
        { Layout.Dream, "dllm-cache" }, { Layout.Dream, "fast-dllm-prefix" }, { Layout.Dream, "prompt-refresh-at-layer-3" },
    };

    /// <summary>
    /// Deferring the residual adds of reused prompt columns gives the same logits, bit for bit, as adding them at every
    /// layer: with the prompt reused everywhere, with drift tests and full refreshes that catch it up, with a prompt
    /// recomputed in the middle of a forward, and for Dream, whose LM head reads the last prompt row.
    /// </summary>
    [Theory]
    [MemberData(nameof(DeferralCases))]
    public void Deferred_residual_adds_give_the_eager_logits_bit_for_bit(Layout layout, string policyName)
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, layout, sizes: TestModels.Tiny with { Layers = 6 });
        using var model = DiffusionModel.Load(dir.Path);
        ICachePolicy Policy() => policyName switch
        {
            "prompt-refresh-at-layer-3" => new PromptRefreshAtLayer(3, full: false),
            "full-refresh-at-layer-3" => new PromptRefreshAtLayer(3, full: true),
            _ => PolicyKitPoliciesPolicyRegistry.Create(policyName),
        };
        var options = layout == Layout.Dream ? SamplerOptions.Dream(8, 8) : new SamplerOptions { GenLength = 8, Steps = 8, BlockLength = 4 };
        var prompts = Prompts(model.Config.VocabSize, 12, 9);

        var eager = Generate(model, Policy(), options, prompts, deferResidualAdds: false);
        var deferred = Generate(model, Policy(), options, prompts);
        using (eager.Denoiser)
        using (deferred.Denoiser)
        {
            Assert.Equal(0, eager.Denoiser.Session!.DeferredLayers);
            Assert.True(deferred.Denoiser.Session!.DeferredLayers > 0, "no layer deferred anything: the test would prove nothing");
            Assert.Equal(eager.Logits.Count, deferred.Logits.Count);
            for (int i = 0; i < eager.Logits.Count; i++) Assert.Equal(eager.Logits[i], deferred.Logits[i]);
        }
    }

    [Fact]
    public void A_policy_that_never_compares_the_input_gets_no_input_cache_and_the_same_logits()
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, Layout.LLaDA);
        using var model = DiffusionModel.Load(dir.Path);
        var plan = LayerPlan.Split(SegmentAction.Reuse, SegmentAction.AdaptiveRatio(0.5, Probe.Value));
        var options = new SamplerOptions { GenLength = 8, Steps = 8, BlockLength = 8 };
        var prompts = Prompts(model.Config.VocabSize, 6, 9);

        var kept = Generate(model, new FixedPlanPolicy(plan), options, prompts);
        var skipped = Generate(model, new FixedPlanPolicy(plan, comparesInput: false), options, prompts);
        using (kept.Denoiser)
        using (skipped.Denoiser)
        {
            // Five caches a layer (input, K, V, attention, FFN; input and the outputs are hidden-wide) against four.
            var c = model.Config;
            long perRow = 3L * c.HiddenSize + 2L * c.KvDim, withoutInput = 2L * c.HiddenSize + 2L * c.KvDim;
            Assert.Equal(kept.Denoiser.CacheBytes / perRow * withoutInput, skipped.Denoiser.CacheBytes);
            // The input cache is never read by a V probe, so nothing else changes, bit for bit.
            Assert.Equal(kept.Logits.Count, skipped.Logits.Count);
            for (int i = 0; i < kept.Logits.Count; i++) Assert.Equal(kept.Logits[i], skipped.Logits[i]);
        }

        var wrong = new FixedPlanPolicy(LayerPlan.Split(SegmentAction.Reuse, SegmentAction.AdaptiveRatio(0.5, Probe.Input)), comparesInput: false);
        using var denoiser = new ModelDenoiser(model, wrong);
        var error = Assert.Throws<InvalidOperationException>(() =>
        {
            using (torch.no_grad()) new DiffusionSampler(options).Run(denoiser, prompts, default);
        });
        Assert.Contains("ComparesInput is false", error.Message);
    }

    [Fact]
    public void A_step_hook_serves_one_forward_and_steps_must_increase()
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, Layout.LLaDA);
        using var model = DiffusionModel.Load(dir.Path);
        using var session = new CacheSession(PolicyKitPoliciesPolicyRegistry.Create("dllm-cache"), model.Config);
        using var ids = TestModels.Ids(TestModels.RandomIds(9, 12, 200));
        var step = new DenoiseStep(0, 0, 1, 0, 8, 4, 0, 4);

        var hook = session.ForStep(step);
        using (var logits = model.Forward(ids, null, step.LogitsStart, step.LogitsLength, hook)) { }
        var reused = Assert.Throws<InvalidOperationException>(() => model.Forward(ids, null, step.LogitsStart, step.LogitsLength, hook));
        Assert.Contains("one forward", reused.Message);
        var again = Assert.Throws<InvalidOperationException>(() => session.ForStep(step));
        Assert.Contains("steps must increase", again.Message);
        using (var next = model.Forward(ids, null, step.LogitsStart, step.LogitsLength, session.ForStep(step with { Step = 1 }))) { }
        Assert.Equal(2 * model.Config.NumLayers, session.Statistics.Records.Count);
    }

    [Fact]
    public void Sessions_free_every_cache_tensor_and_generations_leave_nothing_alive()
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, Layout.Dream);
        using var model = DiffusionModel.Load(dir.Path);
        var generator = new TextGenerator(model);
        var options = new SamplerOptions { GenLength = 8, Steps = 8, BlockLength = 4 };
        var policies = PolicyKitPoliciesPolicyRegistry.Names.Select(n => PolicyKitPoliciesPolicyRegistry.Create(n)).ToArray();

        generator.Generate("warm up", options, policies[0]);
        var before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (int i = 0; i < 3; i++)
            foreach (var policy in policies)
                generator.Generate(["abc", "a longer prompt"], options, policy);
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }
}

/// <summary>The same plan at every step after the first (a hand-written policy, as users may write).</summary>
/// <summary>
/// Reuses the prompt and recomputes the response at every layer but one, where it recomputes the prompt and reuses
/// the response, or (<paramref name="full"/>) recomputes everything.
/// </summary>
internal sealed class PromptRefreshAtLayer(int layer, bool full) : ICachePolicy
{
    public string Name => "prompt-refresh-at-layer";
    public bool UsesCache => true;
    public bool ComparesInput => false;
    public IReadOnlyList<PolicyParameter> Parameters => [];
    public LayerPlan Plan(in StepContext context) =>
        context.Step == 0 || (full && context.Layer == layer) ? LayerPlan.RefreshAll
        : context.Layer == layer ? LayerPlan.Split(SegmentAction.Refresh, SegmentAction.Reuse)
        : LayerPlan.Split(SegmentAction.Reuse, SegmentAction.Refresh);
}

internal sealed class FixedPlanPolicy(LayerPlan plan, bool comparesInput = true) : ICachePolicy
{
    public string Name => "fixed";
    public bool UsesCache => true;
    public bool ComparesInput => comparesInput;
    public IReadOnlyList<PolicyParameter> Parameters => [];
    public LayerPlan Plan(in StepContext context) => context.Step == 0 ? LayerPlan.RefreshAll : plan;
}
