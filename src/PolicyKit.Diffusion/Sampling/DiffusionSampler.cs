using TorchSharp;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Sampling;

/// <summary>What a sampler reports after each denoising step (only built when someone listens).</summary>
/// <param name="Step">The step that just ran.</param>
/// <param name="Tokens">Every row's tokens after the step's commits ([row][column]); a copy.</param>
/// <param name="Committed">Per row, the columns committed at this step.</param>
/// <param name="Predicted">
/// Per row, the token the step predicted at each column of the active block (index 0 is column
/// <see cref="DenoiseStep.LogitsStart"/>), committed or not: the tentative state of what is still masked.
/// </param>
public sealed record SamplerStepReport(DenoiseStep Step, long[][] Tokens, int[][] Committed, long[][]? Predicted = null);

/// <summary>The outcome of a sampler run.</summary>
/// <param name="ResponseIds">Per row, the generated tokens (gen length of them, none left masked).</param>
/// <param name="Steps">Denoising steps run (forward passes; with CFG each pass carries both halves).</param>
public sealed record SamplerResult(IReadOnlyList<long[]> ResponseIds, int Steps);

/// <summary>
/// Owns the denoising loop of a masked-diffusion model: LLaDA's semi-autoregressive blocks with a linear
/// transfer schedule, Fast-dLLM's confidence-threshold parallel decoding, and Dream's time-grid schedule.
/// The token state lives in managed arrays (it is tiny); the model work happens in <see cref="IDenoiser"/>.
/// Rows are left-padded so the response columns line up; each row keeps its own schedule and its own random
/// stream (row i draws from seed + i, or the seed it is given), so a row's output does not depend on what it is batched with.
/// </summary>
public sealed class DiffusionSampler
{
    private readonly SamplerOptions _options;

    public DiffusionSampler(SamplerOptions options)
    {
        options.Validate();
        _options = options;
    }

    public SamplerOptions Options => _options;

    /// <summary>Runs every step of a generation for <paramref name="prompts"/> (one row each); see <see cref="Start"/>.</summary>
    public SamplerResult Run(
        IDenoiser denoiser,
        IReadOnlyList<IReadOnlyList<int>> prompts,
        CancellationToken cancellationToken = default,
        Action<SamplerStepReport>? onStep = null)
    {
        using var run = Start(denoiser, prompts);
        while (!run.IsDone)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var report = run.Step(report: onStep is not null);
            onStep?.Invoke(report!);
        }
        return run.Result();
    }

    /// <summary>
    /// A generation that runs one denoising step per <see cref="SamplerRun.Step"/> call, so that a scheduler can
    /// interleave the steps of several generations (step-level batching). <see cref="Run"/> is this loop.
    /// </summary>
    /// <param name="denoiser">The model (or a test function) that predicts each step's logits.</param>
    /// <param name="prompts">One non-empty prompt per row (left-padded to the longest).</param>
    /// <param name="seeds">Per row, the seed of its random stream; default <c>Seed + row</c>. A row given its solo
    /// run's seed draws the same numbers whatever it is batched with.</param>
    public SamplerRun Start(IDenoiser denoiser, IReadOnlyList<IReadOnlyList<int>> prompts, IReadOnlyList<long>? seeds = null)
    {
        ArgumentNullException.ThrowIfNull(denoiser);
        ArgumentNullException.ThrowIfNull(prompts);
        if (prompts.Count == 0) throw new ArgumentException("At least one prompt is needed.", nameof(prompts));
        for (int i = 0; i < prompts.Count; i++)
            if (prompts[i].Count == 0) throw new ArgumentException($"Prompt {i} is empty.", nameof(prompts));
        if (seeds is not null && seeds.Count != prompts.Count)
            throw new ArgumentException($"{seeds.Count} seeds for {prompts.Count} prompts: give one per row.", nameof(seeds));
        return new SamplerRun(this, denoiser, prompts, seeds ?? Enumerable.Range(0, prompts.Count).Select(r => _options.Seed + r).ToArray());
    }

    /// <summary>One step of <paramref name="run"/>: a forward pass, then each row commits under the schedule.</summary>
    internal int[][] Step(SamplerRun run, in DenoiseStep info, int[][]? linear)
    {
        var o = _options;
        var tokens = run.Tokens;
        long mask = run.Denoiser.MaskTokenId;
        var (prediction, confidence) = Predict(run.Denoiser, tokens, run.AttentionMask, info, run.Generators);
        var committed = new int[tokens.Length][];
        for (int r = 0; r < tokens.Length; r++)
        {
            int want = o.Schedule switch
            {
                TransferSchedule.Linear => linear![r][info.StepInBlock],
                TransferSchedule.DreamTimeGrid => DreamTransferCount(
                    CountMasked(tokens[r], info.LogitsStart, o.BlockLength, mask), info.StepInBlock, o.Steps / o.BlockCount),
                _ => -1,  // threshold: decided from the confidences
            };
            committed[r] = Commit(tokens[r], info.LogitsStart, prediction[r], confidence[r], want, mask);
        }
        run.LastPrediction = prediction;
        return committed;
    }

    internal static Tensor BuildAttentionMask(IReadOnlyList<IReadOnlyList<int>> prompts, int promptLength, int total, Device device)
    {
        var flags = new bool[prompts.Count * total];
        for (int r = 0; r < prompts.Count; r++)
            for (int c = promptLength - prompts[r].Count; c < total; c++) flags[r * total + c] = true;
        return tensor(flags, [prompts.Count, total], device: device);
    }

    /// <summary>
    /// One forward pass (with its unconditional half under CFG) and the per-position prediction and
    /// confidence of the active block, copied to the CPU.
    /// </summary>
    private (long[][] prediction, double[][] confidence) Predict(
        IDenoiser denoiser, long[][] tokens, Tensor? attentionMask, in DenoiseStep info, Generator[] generators)
    {
        var o = _options;
        int rows = tokens.Length, total = info.SequenceLength, length = info.LogitsLength;
        using var scope = NewDisposeScope();

        var flat = new long[rows * total];
        for (int r = 0; r < rows; r++) Array.Copy(tokens[r], 0, flat, r * total, total);
        var input = tensor(flat, [rows, total], device: denoiser.Device);

        Tensor logits;
        if (o.CfgScale > 0)
        {
            // Unconditional half: the same sequence with every prompt column masked.
            var unconditional = input.clone();
            unconditional[TensorIndex.Colon, TensorIndex.Slice(0, info.PromptLength)] = denoiser.MaskTokenId;
            var mask2 = attentionMask is null ? null : cat([attentionMask, attentionMask]);
            var both = denoiser.Predict(cat([input, unconditional]), mask2, info);
            var cond = both[TensorIndex.Slice(0, rows)];
            var uncond = both[TensorIndex.Slice(rows, 2 * rows)];
            logits = uncond + (o.CfgScale + 1) * (cond - uncond);
        }
        else
        {
            logits = denoiser.Predict(input, attentionMask, info);
        }

        if (o.ForbidEos) logits[TensorIndex.Ellipsis, o.EosTokenId!.Value] = float.NegativeInfinity;

        // Every row at once ([B, L]); only the random draws go row by row, each from its own stream.
        Tensor chosen;
        if (o.Temperature > 0)
        {
            // Gumbel-max in float64, as LLaDA does it: argmax exp(logits) / (-log u)^T.
            var l64 = logits.to_type(ScalarType.Float64);
            var u = stack(Enumerable.Range(0, rows).Select(r => rand([length, l64.shape[2]], ScalarType.Float64, generator: generators[r])).ToArray()).to(l64.device);
            chosen = (l64.exp() / (-u.log()).pow(o.Temperature)).argmax(-1);
        }
        else
        {
            chosen = logits.argmax(-1);
        }

        // Threshold decoding compares the chosen token's probability with the threshold, as Fast-dLLM does, whatever
        // the family's commit order: Dream's negative entropy is never above a threshold in (0, 1], so it would
        // commit one token a step.
        var kind = o.Schedule == TransferSchedule.Threshold ? ConfidenceKind.Probability : o.Confidence;
        Tensor score;
        if (kind == ConfidenceKind.Random)
        {
            score = stack(Enumerable.Range(0, rows).Select(r => rand(length, ScalarType.Float64, generator: generators[r])).ToArray()).to(logits.device);
        }
        else
        {
            // LLaDA's generate.py takes the softmax of the model's own logits (not of the float64 noisy ones), so
            // exact ties between positions, broken to the left, are the reference's ties.
            var p = (o.ConfidencePrecision == ConfidencePrecision.Float64 ? logits.to_type(ScalarType.Float64) : logits).softmax(-1);
            score = kind switch
            {
                ConfidenceKind.Probability => p.gather(-1, chosen.unsqueeze(-1)).squeeze(-1),
                ConfidenceKind.Margin => MarginOf(p),
                _ => (p * (p + 1e-10).log()).sum(-1),
            };
        }

        // One device→host copy for the step: the predicted ids (exact in float64) beside the scores, [B, 2L].
        var host = cat([chosen.to_type(ScalarType.Float64), score.to_type(ScalarType.Float64)], 1).cpu().data<double>().ToArray();
        var prediction = new long[rows][];
        var confidence = new double[rows][];
        for (int r = 0; r < rows; r++)
        {
            prediction[r] = new long[length];
            for (int j = 0; j < length; j++) prediction[r][j] = (long)host[r * 2 * length + j];
            confidence[r] = host.AsSpan(r * 2 * length + length, length).ToArray();
        }
        return (prediction, confidence);
    }

    private static Tensor MarginOf(Tensor p)
    {
        var (top, _) = p.topk(2, dim: -1);
        return top[TensorIndex.Ellipsis, 0] - top[TensorIndex.Ellipsis, 1];
    }

    /// <summary>
    /// Commits masked positions of one row's block in descending confidence (ties to the left).
    /// <paramref name="want"/> &lt; 0 means threshold decoding: all above the threshold, at least one.
    /// </summary>
    private int[] Commit(long[] row, int start, long[] prediction, double[] confidence, int want, long mask)
    {
        var candidates = new List<int>();
        for (int j = 0; j < prediction.Length; j++)
            if (row[start + j] == mask) candidates.Add(j);
        if (candidates.Count == 0) return [];

        // Stable sort keeps the lower index first among equal confidences.
        var order = candidates.OrderByDescending(j => confidence[j]).ToList();
        int take = want >= 0
            ? Math.Min(want, order.Count)
            : Math.Max(1, order.Count(j => confidence[j] > _options.Threshold));

        var committed = new int[take];
        for (int i = 0; i < take; i++)
        {
            int j = order[i];
            row[start + j] = prediction[j];
            committed[i] = start + j;
        }
        Array.Sort(committed);
        return committed;
    }

    /// <summary>
    /// Dream: <c>floor(masked · (1 − s/t))</c> on linspace(1, 1e-3, steps + 1); everything at the last step. One
    /// deliberate difference from Dream's generate: with exactly one masked token per step left, one token. There
    /// the formula gives 0.999, truncated to 0, so Dream commits nothing at the first step and two at the last, the
    /// second without its left neighbour (the shipped model then got running-sum's last digit wrong on every sample).
    /// </summary>
    public static int DreamTransferCount(int masked, int step, int steps)
    {
        if (step >= steps - 1) return masked;
        if (masked == steps - step) return 1;
        const double eps = 1e-3;
        double t = 1 - (1 - eps) * step / steps;
        double s = 1 - (1 - eps) * (step + 1) / steps;
        return (int)(masked * (1 - s / t));
    }

    internal static int CountMasked(long[] row, int start, int length, long mask)
    {
        int n = 0;
        for (int j = start; j < start + length; j++) if (row[j] == mask) n++;
        return n;
    }

    internal static bool AnyMasked(long[][] tokens, int start, int length, long mask) =>
        tokens.Any(row => CountMasked(row, start, length, mask) > 0);
}
