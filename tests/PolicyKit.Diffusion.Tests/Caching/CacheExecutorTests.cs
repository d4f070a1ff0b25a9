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
    public LayerPlan Plan(in StepContext context) => LayerPlan.All(SegmentAction.AdaptiveRatio(1f, Probe.Value));
}

/// <summary>Records the logits of every step, around the real denoiser.</summary>
internal sealed class RecordingDenoiser(ModelDenoiser inner) : IDenoiser
{
    public List<double[]> Logits { get; } = [];
    public int MaskTokenId => inner.MaskTokenId;
    public int VocabularySize => inner.VocabularySize;
    public Device Device => inner.Device;

    public Tensor Predict(Tensor tokens, Tensor? attentionMask, in DenoiseStep step)
    {
        var logits = inner.Predict(tokens, attentionMask, step);
        Logits.Add(TestModels.ToDoubles(logits));
        return logits;
    }
}

public class CacheExecutorTests
{
    private sealed record Run(List<SamplerStepReport> Reports, List<double[]> Logits, ModelDenoiser Denoiser);

    private static Run Generate(DiffusionModel model, ICachePolicy? policy, SamplerOptions options, int[][] prompts)
    {
        var denoiser = new ModelDenoiser(model, policy);
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
    public void Always_refresh_and_adaptive_ratio_one_reproduce_the_uncached_model_at_every_step(
        Layout layout, int promptLength, int gen, int steps, int block)
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, layout);
        using var model = DiffusionModel.Load(dir.Path);
        var options = new SamplerOptions { GenLength = gen, Steps = steps, BlockLength = block };
        var prompts = Prompts(model.Config.VocabSize, promptLength);

        var none = Generate(model, null, options, prompts);
        var counter = FlopCounter.For(model.Config);
        var full = none.Reports.Count * counter.FullForward(1, promptLength + gen, block);  // logits for the active block
        Assert.Equal(new FlopCount(full, full), none.Denoiser.Flops);
        foreach (var policy in new ICachePolicy[] { PolicyKitPoliciesPolicyRegistry.Create("always-refresh"), new AdaptiveEverything() })
        {
            var cached = Generate(model, policy, options, prompts);
            Assert.Equal(none.Reports.Count, cached.Reports.Count);
            for (int s = 0; s < none.Reports.Count; s++)
            {
                Assert.Equal(none.Reports[s].Tokens, cached.Reports[s].Tokens);
                // fp32 rounding only: the same sums in another row order (always-refresh: bitwise equal).
                var diff = none.Logits[s].Zip(cached.Logits[s], (a, b) => Math.Abs(a - b)).Max();
                Assert.True(diff <= 1e-4, $"{policy.Name} step {s}: logits differ by {diff}");
                if (policy.Name == "always-refresh") Assert.Equal(0.0, diff);
            }
            // Both paths are counted by the same layer code: a plan that recomputes everything costs the full forward.
            if (policy.Name == "always-refresh") Assert.Equal(none.Denoiser.Flops, cached.Denoiser.Flops);
            cached.Denoiser.Dispose();
        }
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
    public void Threshold_selector_recomputes_the_rows_below_the_threshold_in_every_sequence()
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, Layout.LLaDA);
        using var model = DiffusionModel.Load(dir.Path);
        var policy = new FixedPlanPolicy(LayerPlan.Split(SegmentAction.Reuse, SegmentAction.AdaptiveThreshold(2f / 3f, Probe.Input)));
        var run = Generate(model, policy, new SamplerOptions { GenLength = 8, Steps = 8, BlockLength = 8 }, Prompts(model.Config.VocabSize, 6, 9));
        using var denoiser = run.Denoiser;
        // Threshold 2/3 on the input probe: step 0 refreshes all, later steps only what moved; never the prompt.
        var later = denoiser.Session!.Statistics.Records.Where(r => r.Step > 0).ToList();
        Assert.All(later, r => Assert.InRange(r.RowsRecomputed, 0, 8));
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
internal sealed class FixedPlanPolicy(LayerPlan plan) : ICachePolicy
{
    public string Name => "fixed";
    public bool UsesCache => true;
    public IReadOnlyList<PolicyParameter> Parameters => [];
    public LayerPlan Plan(in StepContext context) => context.Step == 0 ? LayerPlan.RefreshAll : plan;
}
