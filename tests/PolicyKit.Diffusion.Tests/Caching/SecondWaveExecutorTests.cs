using PolicyKit.Diffusion.Caching;
using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Generation;
using PolicyKit.Diffusion.Model;
using PolicyKit.Diffusion.Sampling;
using PolicyKit.Generated;
using TorchSharp;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Tests.Caching;

/// <summary>
/// The second-wave policies on a real generation's trace: the rows each layer recomputes and drops at each step,
/// checked against each paper's rule computed from the tokens the model was given (not from the plans).
/// Row counts only: they hold on any CPU, whatever tokens an approximate cache commits.
/// </summary>
public class SecondWaveExecutorTests
{
    private sealed record Trace(IReadOnlyList<LayerStepRecord> Records, List<long[]> Inputs, ModelDenoiser Denoiser);

    private static Trace Generate(DiffusionModel model, string policy, SamplerOptions options, int promptLength)
    {
        var denoiser = new ModelDenoiser(model, PolicyKitPoliciesPolicyRegistry.Create(policy));
        var recording = new RecordingDenoiser(denoiser);
        var prompt = TestModels.RandomIds(7, promptLength, model.Config.VocabSize - 8).Select(x => (int)x).ToArray();
        using (torch.no_grad())
            new DiffusionSampler(options).Run(recording, [prompt], default);
        var inputs = recording.Inputs.Select(t => { var ids = t.data<long>().ToArray(); t.Dispose(); return ids; }).ToList();
        return new Trace(denoiser.Session!.Statistics.Records, inputs, denoiser);
    }

    [Theory]
    [InlineData(Layout.LLaDA)]
    [InlineData(Layout.Dream)]
    public void Dkv_cache_recomputes_masked_and_just_decoded_rows_and_everything_every_eight_steps_and_per_block(Layout layout)
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, layout);
        using var model = DiffusionModel.Load(dir.Path);
        int prompt = 10, gen = 32, stepsPerBlock = 16;
        var trace = Generate(model, "dkv-cache", new SamplerOptions { GenLength = gen, Steps = 32, BlockLength = 16 }, prompt);
        using var denoiser = trace.Denoiser;

        Assert.Equal(trace.Inputs.Count * model.Config.NumLayers, trace.Records.Count);
        foreach (var r in trace.Records)
        {
            bool Masked(int step, int c) => trace.Inputs[step][c] == model.MaskTokenId;
            int masked = Enumerable.Range(prompt, gen).Count(c => Masked(r.Step, c));
            int justDecoded = r.Step == 0 ? 0 : Enumerable.Range(prompt, gen).Count(c => Masked(r.Step - 1, c) && !Masked(r.Step, c));
            int expected = r.Step % 8 == 0 || r.Step % stepsPerBlock == 0 ? prompt + gen : masked + justDecoded;
            Assert.True(expected == r.RowsRecomputed, $"step {r.Step} layer {r.Layer}: {r.RowsRecomputed} rows, expected {expected} ({r.Plan})");
            Assert.Equal(0, r.RowsDropped);
        }
        Assert.True(denoiser.Flops.Executed < denoiser.Flops.Full, $"{denoiser.Flops}");
    }

    [Fact]
    public void Vicinity_recomputes_the_block_and_sixteen_rows_each_side_after_two_warmup_steps()
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, Layout.LLaDA);
        using var model = DiffusionModel.Load(dir.Path);
        int prompt = 10, gen = 48, block = 8, stepsPerBlock = 6;
        var trace = Generate(model, "vicinity", new SamplerOptions { GenLength = gen, Steps = 36, BlockLength = block }, prompt);
        using var denoiser = trace.Denoiser;

        foreach (var r in trace.Records)
        {
            int blockStart = r.Step / stepsPerBlock * block;
            int expected = r.Step % stepsPerBlock < 2
                ? prompt + gen
                : block + Math.Min(16, blockStart) + Math.Min(16, gen - blockStart - block);
            Assert.True(expected == r.RowsRecomputed, $"step {r.Step} layer {r.Layer}: {r.RowsRecomputed} rows, expected {expected} ({r.Plan})");
        }
    }

    [Theory]
    [InlineData(Layout.LLaDA)]
    [InlineData(Layout.Dream)]
    public void Dpad_drops_the_suffix_beyond_sixteen_positions_from_every_forward(Layout layout)
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, layout);
        using var model = DiffusionModel.Load(dir.Path);
        int prompt = 10, gen = 48, block = 8, stepsPerBlock = 4;
        var trace = Generate(model, "dpad", new SamplerOptions { GenLength = gen, Steps = 24, BlockLength = block }, prompt);
        using var denoiser = trace.Denoiser;

        foreach (var r in trace.Records)
        {
            int blockEnd = (r.Step / stepsPerBlock + 1) * block;
            int dropped = Math.Max(0, gen - blockEnd - 16);
            Assert.True(dropped == r.RowsDropped, $"step {r.Step} layer {r.Layer}: {r.RowsDropped} dropped, expected {dropped}");
            Assert.Equal(prompt + gen - dropped, r.RowsRecomputed);
        }
        // Dropped rows are neither queries nor keys: fewer FLOPs although nothing is reused.
        Assert.True(denoiser.Flops.Executed < denoiser.Flops.Full, $"{denoiser.Flops}");
        // Every token is still decoded: the sampler never needed a dropped row's logits.
        Assert.DoesNotContain(model.MaskTokenId, trace.Inputs[^1].Skip(prompt).Take(gen - block).Select(x => (int)x));
    }

    [Fact]
    public void A_decode_state_plan_without_tokens_fails_naming_what_is_missing()
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, Layout.LLaDA);
        using var model = DiffusionModel.Load(dir.Path);
        using var session = new CacheSession(PolicyKitPoliciesPolicyRegistry.Create("dkv-cache"), model.Config);
        using var ids = torch.tensor(TestModels.RandomIds(3, 20, model.Config.VocabSize - 8)).unsqueeze(0);
        var step = new DenoiseStep(0, 0, 2, 0, 12, 8, 0, 4);
        using (torch.no_grad())
        {
            using (model.Forward(ids, null, step.LogitsStart, step.LogitsLength, session.ForStep(step))) { }   // step 0 refreshes everything
            var error = Assert.Throws<InvalidOperationException>(() =>
                model.Forward(ids, null, step.LogitsStart, step.LogitsLength, session.ForStep(step with { Step = 1, StepInBlock = 1 })));
            Assert.Contains("ForStep(step, tokens)", error.Message, StringComparison.Ordinal);
        }
    }
}
