using PolicyKit.Diffusion.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Tests.Sampling;

/// <summary>
/// A deterministic stand-in for the model: each column's favourite token and its margin depend on the
/// column's offset from the row's first real token and on the tokens committed so far, so commits feed
/// back into later predictions, and a row's logits do not depend on the rows batched with it.
/// </summary>
internal sealed class FakeDenoiser(int vocab = 16) : IDenoiser
{
    public int MaskTokenId => vocab - 1;
    public int VocabularySize => vocab;
    public Device Device => CPU;
    public List<(long[,] tokens, DenoiseStep step)> Calls { get; } = [];

    public Tensor Predict(Tensor tokens, Tensor? attentionMask, in DenoiseStep step)
    {
        int rows = (int)tokens.shape[0], total = (int)tokens.shape[1];
        var ids = tokens.data<long>().ToArray();
        var real = attentionMask?.data<bool>().ToArray();
        var copy = new long[rows, total];
        var logits = new float[rows * step.LogitsLength * vocab];
        for (int r = 0; r < rows; r++)
        {
            int first = 0;
            if (real is not null) while (!real[r * total + first]) first++;
            long sum = 0;
            for (int c = 0; c < total; c++)
            {
                copy[r, c] = ids[r * total + c];
                if (c >= first && ids[r * total + c] != MaskTokenId) sum += ids[r * total + c] * (c - first + 1);
            }
            for (int j = 0; j < step.LogitsLength; j++)
            {
                int offset = step.LogitsStart + j - first;
                int favourite = (int)((offset * 7 + sum) % (vocab - 1));
                var at = (r * step.LogitsLength + j) * vocab;
                logits[at + favourite] = 1f + (offset * 13 % 7) * 0.5f;
                logits[at + (favourite + 1) % (vocab - 1)] = 0.5f;
            }
        }
        Calls.Add((copy, step));
        return tensor(logits, [rows, step.LogitsLength, vocab]);
    }
}

public class SamplerTests
{
    private static readonly int[][] OnePrompt = [[1, 2, 3, 4]];

    private static List<SamplerStepReport> Run(SamplerOptions options, int[][] prompts, IDenoiser? denoiser = null, CancellationToken ct = default)
    {
        var reports = new List<SamplerStepReport>();
        new DiffusionSampler(options).Run(denoiser ?? new FakeDenoiser(), prompts, ct, reports.Add);
        return reports;
    }

    [Theory]
    [InlineData(16, 8, 8)]   // 2 blocks x 4 steps, 2 tokens a step
    [InlineData(12, 9, 4)]   // 3 blocks x 3 steps: 4 tokens over 3 steps = 2,1,1
    [InlineData(8, 8, 8)]    // one block, one token a step
    public void Linear_schedule_commits_the_planned_count_inside_the_active_block(int gen, int steps, int block)
    {
        var options = new SamplerOptions { GenLength = gen, Steps = steps, BlockLength = block };
        var reports = Run(options, OnePrompt);
        int prompt = OnePrompt[0].Length, mask = new FakeDenoiser().MaskTokenId;

        Assert.Equal(steps, reports.Count);
        var planned = SamplerOptions.LinearTransferCounts(block, steps / (gen / block));
        long[] previous = [.. OnePrompt[0].Select(i => (long)i), .. Enumerable.Repeat((long)mask, gen)];
        foreach (var report in reports)
        {
            var s = report.Step;
            Assert.Equal(planned[s.StepInBlock], report.Committed[0].Length);
            Assert.All(report.Committed[0], c => Assert.InRange(c, prompt + s.ActiveBlockStart, prompt + s.ActiveBlockStart + block - 1));
            var now = report.Tokens[0];
            for (int c = 0; c < now.Length; c++)
            {
                if (previous[c] != mask) Assert.Equal(previous[c], now[c]);               // committed tokens never change
                else if (now[c] != mask) Assert.Contains(c, report.Committed[0]);          // only this step's commits appear
            }
            previous = now;
        }
        Assert.DoesNotContain((long)mask, previous);
    }

    [Fact]
    public void Linear_counts_spread_the_remainder_over_the_earliest_steps()
    {
        Assert.Equal([3, 3, 2, 2], SamplerOptions.LinearTransferCounts(10, 4));
        Assert.Equal([1, 1, 0], SamplerOptions.LinearTransferCounts(2, 3));
    }

    [Theory]
    [InlineData(0.05)]
    [InlineData(0.5)]
    [InlineData(1.0)]
    public void Threshold_decoding_commits_at_least_one_a_step_and_everything_above_the_threshold(double threshold)
    {
        var options = new SamplerOptions { GenLength = 16, Steps = 16, BlockLength = 8, Schedule = TransferSchedule.Threshold, Threshold = threshold };
        var reports = Run(options, OnePrompt);
        Assert.All(reports, r => Assert.NotEmpty(r.Committed[0]));
        Assert.InRange(reports.Count, 2, 16);
        Assert.DoesNotContain(reports[^1].Tokens[0], t => t == new FakeDenoiser().MaskTokenId);
        if (threshold >= 1.0) Assert.Equal(16, reports.Count);  // nothing is ever above 1: exactly one a step
        if (threshold <= 0.05) Assert.True(reports.Count < 16);  // low bar: several tokens per step
    }

    [Theory]
    [InlineData(ConfidenceKind.Probability)]
    [InlineData(ConfidenceKind.NegativeEntropy)]
    [InlineData(ConfidenceKind.Margin)]
    [InlineData(ConfidenceKind.Random)]
    public void Threshold_decoding_thresholds_the_chosen_tokens_probability_whatever_the_commit_order(ConfidenceKind kind)
    {
        // Dream's negative entropy is never above a threshold in (0, 1]; it used to commit one token a step.
        var options = new SamplerOptions
        {
            GenLength = 16, Steps = 16, BlockLength = 16, Schedule = TransferSchedule.Threshold, Threshold = 0.05, Confidence = kind,
        };
        var probability = Run(options with { Confidence = ConfidenceKind.Probability }, OnePrompt);
        var reports = Run(options, OnePrompt);
        Assert.True(reports.Count < 16, $"{kind}: {reports.Count} steps for 16 tokens");
        Assert.Equal(probability.Select(r => r.Committed[0]), reports.Select(r => r.Committed[0]));
    }

    [Fact]
    public void Dream_time_grid_commits_everything_by_the_last_step()
    {
        var options = SamplerOptions.Dream(genLength: 20, steps: 10);
        var reports = Run(options, OnePrompt);
        Assert.Equal(10, reports.Count);
        Assert.Equal(20, reports.Sum(r => r.Committed[0].Length));
        for (int i = 0; i < 9; i++)
        {
            int maskedBefore = 20 - reports.Take(i).Sum(r => r.Committed[0].Length);
            Assert.Equal(DiffusionSampler.DreamTransferCount(maskedBefore, i, 10), reports[i].Committed[0].Length);
        }
    }

    [Fact]
    public void Dreams_time_grid_at_one_token_a_step_commits_one_each_step()
    {
        // Dream's own formula gives int(masked · (1 − s/t)) = int(0.999) = 0 at the first step, then two at the last.
        var counts = new List<int>();
        for (int step = 0, masked = 8; step < 8; step++)
        {
            counts.Add(DiffusionSampler.DreamTransferCount(masked, step, 8));
            masked -= counts[^1];
        }
        Assert.Equal(Enumerable.Repeat(1, 8), counts);
        // More tokens than steps: Dream's formula, truncated.
        Assert.Equal(1, DiffusionSampler.DreamTransferCount(masked: 20, step: 0, steps: 10));
    }

    [Fact]
    public void Same_seed_gives_the_same_tokens_and_another_seed_other_tokens()
    {
        var options = new SamplerOptions { GenLength = 16, Steps = 16, BlockLength = 16, Temperature = 1.0, Confidence = ConfidenceKind.Random, Seed = 7 };
        var a = Run(options, OnePrompt)[^1].Tokens[0];
        var b = Run(options, OnePrompt)[^1].Tokens[0];
        var c = Run(options with { Seed = 8 }, OnePrompt)[^1].Tokens[0];
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void A_batch_of_prompts_of_different_lengths_gives_each_row_its_solo_tokens()
    {
        var options = new SamplerOptions { GenLength = 8, Steps = 8, BlockLength = 4 };
        int[][] prompts = [[1, 2, 3, 4, 5, 6], [9, 8], [3, 3, 3, 1]];
        var batch = Run(options, prompts)[^1].Tokens;
        for (int r = 0; r < prompts.Length; r++)
        {
            var solo = Run(options, [prompts[r]])[^1].Tokens[0];
            Assert.Equal(solo[^8..], batch[r][^8..]);
        }
    }

    [Fact]
    public void Classifier_free_guidance_runs_a_masked_prompt_copy_in_the_same_forward()
    {
        var fake = new FakeDenoiser();
        Run(new SamplerOptions { GenLength = 4, Steps = 4, BlockLength = 4, CfgScale = 1.5 }, OnePrompt, fake);
        var (tokens, step) = fake.Calls[0];
        Assert.Equal(2, tokens.GetLength(0));
        for (int c = 0; c < step.PromptLength; c++)
        {
            Assert.Equal(OnePrompt[0][c], tokens[0, c]);
            Assert.Equal(fake.MaskTokenId, tokens[1, c]);
        }
    }

    [Fact]
    public void Cancellation_stops_between_steps()
    {
        using var cts = new CancellationTokenSource();
        var fake = new FakeDenoiser();
        var sampler = new DiffusionSampler(new SamplerOptions { GenLength = 8, Steps = 8, BlockLength = 8 });
        Assert.Throws<OperationCanceledException>(() => sampler.Run(fake, OnePrompt, cts.Token, _ => cts.Cancel()));
        Assert.Single(fake.Calls);
    }

    [Theory]
    [InlineData(10, 8, 4, 0.0, 0.9, "block-length")]
    [InlineData(16, 6, 4, 0.0, 0.9, "steps")]
    [InlineData(8, 8, 8, -1.0, 0.9, "temperature")]
    [InlineData(8, 8, 8, 0.0, 1.5, "threshold")]
    [InlineData(8, 8, 8, 0.0, 0.0, "threshold")]
    public void Bad_settings_are_rejected_before_any_work_with_the_setting_named(int gen, int steps, int block, double temperature, double threshold, string name)
    {
        var e = Assert.Throws<ArgumentException>(() => new DiffusionSampler(new SamplerOptions
        {
            GenLength = gen, Steps = steps, BlockLength = block, Temperature = temperature, Threshold = threshold,
        }));
        Assert.StartsWith(name, e.Message);
    }
    /// <summary>Two masked positions whose top logits are 1 and 1 + <c>ulps</c> float32 ulps; everything else far below.</summary>
    private sealed class NearTieDenoiser(int ulps) : IDenoiser
    {
        public int MaskTokenId => 2;
        public int VocabularySize => 3;
        public Device Device => CPU;

        public static Tensor Logits(int ulps)
        {
            float high = 1f;
            for (int i = 0; i < ulps; i++) high = MathF.BitIncrement(high);
            return tensor(new[] { 1f, 0f, -100f, high, 0f, -100f }, [1, 2, 3]);
        }

        public Tensor Predict(Tensor tokens, Tensor? attentionMask, in DenoiseStep step) => Logits(ulps);
    }

    [Fact]
    public void Confidence_is_computed_in_the_models_dtype_by_default_and_in_float64_on_request()
    {
        // A gap of a few float32 ulps in the logits that float32's softmax rounds away but float64's keeps: the
        // reference (LLaDA's generate.py, softmax of the model's logits) sees a tie and commits the left position.
        int ulps = Enumerable.Range(1, 64).First(k =>
        {
            using var p = NearTieDenoiser.Logits(k).softmax(-1);
            return p[0, 0, 0].item<float>() == p[0, 1, 0].item<float>();
        });
        var options = new SamplerOptions { GenLength = 2, Steps = 2, BlockLength = 2 };
        var model = Run(options, [[0]], new NearTieDenoiser(ulps));
        var float64 = Run(options with { ConfidencePrecision = ConfidencePrecision.Float64 }, [[0]], new NearTieDenoiser(ulps));

        Assert.Equal([1], model[0].Committed[0]);    // tie in float32: the lower position first
        Assert.Equal([2], float64[0].Committed[0]);  // float64 sees the larger logit
    }
}
