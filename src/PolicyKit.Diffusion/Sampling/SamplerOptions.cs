namespace PolicyKit.Diffusion.Sampling;

/// <summary>How many masked tokens a step commits.</summary>
public enum TransferSchedule
{
    /// <summary>LLaDA: each block's masked count spread evenly over its steps, remainder to the earliest steps.</summary>
    Linear,
    /// <summary>Fast-dLLM parallel decoding: every masked token whose chosen-token probability exceeds the threshold, at least one.</summary>
    Threshold,
    /// <summary>Dream: <c>masked · (1 − s/t)</c> on a linspace(1, 1e-3) time grid, everything left at the last step (one a step when exactly one a step is left; see <see cref="DiffusionSampler.DreamTransferCount"/>).</summary>
    DreamTimeGrid,
}

/// <summary>The score that orders masked positions for commitment.</summary>
public enum ConfidenceKind
{
    /// <summary>Softmax probability of the chosen token (LLaDA <c>low_confidence</c>, Dream <c>maskgit_plus</c>).</summary>
    Probability,
    /// <summary>Uniform noise (LLaDA <c>random</c> remasking).</summary>
    Random,
    /// <summary>Top-1 minus top-2 probability (Dream <c>topk_margin</c>).</summary>
    Margin,
    /// <summary>Negative entropy of the predictive distribution (Dream <c>entropy</c>).</summary>
    NegativeEntropy,
}

/// <summary>The precision in which commit confidences are computed.</summary>
public enum ConfidencePrecision
{
    /// <summary>The model's logits dtype, as LLaDA's <c>generate.py</c> computes its softmax (the reference's ties).</summary>
    Model,
    /// <summary>float64: fewer exact ties between positions, at the cost of differing from the reference on near-ties.</summary>
    Float64,
}

/// <summary>Settings of one generation. Validate with <see cref="Validate"/> before any work starts.</summary>
public sealed record SamplerOptions
{
    public int GenLength { get; init; } = 64;

    /// <summary>Total denoising steps (divided evenly over blocks). An upper bound under <see cref="TransferSchedule.Threshold"/>.</summary>
    public int Steps { get; init; } = 64;

    /// <summary>Semi-autoregressive block size; equal to <see cref="GenLength"/> for a single block.</summary>
    public int BlockLength { get; init; } = 32;

    /// <summary>Gumbel-max temperature; 0 = argmax.</summary>
    public double Temperature { get; init; }

    public TransferSchedule Schedule { get; init; } = TransferSchedule.Linear;

    public ConfidenceKind Confidence { get; init; } = ConfidenceKind.Probability;

    /// <summary>
    /// Precision of the confidence scores (softmax, margin, entropy). The Gumbel noise of <see cref="Temperature"/> &gt; 0
    /// is always drawn and applied in float64, as LLaDA does.
    /// </summary>
    public ConfidencePrecision ConfidencePrecision { get; init; } = ConfidencePrecision.Model;

    /// <summary>Probability of the chosen token above which <see cref="TransferSchedule.Threshold"/> commits it, in (0, 1] (Fast-dLLM; whatever <see cref="Confidence"/> is).</summary>
    public double Threshold { get; init; } = 0.9;

    /// <summary>Classifier-free guidance scale; 0 disables it (and its second forward).</summary>
    public double CfgScale { get; init; }

    public long Seed { get; init; }

    /// <summary>End-of-sequence token id for the EOS rules below; null disables them.</summary>
    public int? EosTokenId { get; init; }

    /// <summary>Never predict EOS at a masked position (LLaDA option).</summary>
    public bool ForbidEos { get; init; }

    /// <summary>LLaDA defaults: linear schedule, low-confidence remasking.</summary>
    public static SamplerOptions Llada => new();

    /// <summary>Dream defaults: one block, time-grid schedule, entropy ordering.</summary>
    public static SamplerOptions Dream(int genLength = 64, int steps = 64) => new()
    {
        GenLength = genLength,
        Steps = steps,
        BlockLength = genLength,
        Schedule = TransferSchedule.DreamTimeGrid,
        Confidence = ConfidenceKind.NegativeEntropy,
    };

    public int BlockCount => GenLength / BlockLength;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting.</summary>
    public void Validate()
    {
        static void Require(bool ok, string name, string message)
        {
            if (!ok) throw new ArgumentException($"{name}: {message}", name);
        }

        Require(GenLength > 0, "gen-length", $"must be positive (got {GenLength}).");
        Require(BlockLength > 0, "block-length", $"must be positive (got {BlockLength}).");
        Require(GenLength % BlockLength == 0, "block-length",
            $"gen length {GenLength} must be a multiple of block length {BlockLength}.");
        Require(Steps > 0, "steps", $"must be positive (got {Steps}).");
        if (Schedule == TransferSchedule.Linear)
            Require(Steps % BlockCount == 0, "steps",
                $"{Steps} steps do not divide evenly over {BlockCount} blocks (gen length {GenLength} / block length {BlockLength}).");
        if (Schedule == TransferSchedule.DreamTimeGrid)
            Require(BlockLength == GenLength, "block-length", "the Dream schedule has no blocks: block length must equal gen length.");
        Require(Temperature >= 0 && double.IsFinite(Temperature), "temperature", $"must be >= 0 (got {Temperature}).");
        Require(Threshold > 0 && Threshold <= 1, "threshold", $"must be in (0, 1] (got {Threshold}).");
        Require(CfgScale >= 0 && double.IsFinite(CfgScale), "cfg", $"must be >= 0 (got {CfgScale}).");
        Require(!ForbidEos || EosTokenId is not null, "forbid-eos", "needs an EOS token id.");
    }

    /// <summary>
    /// Tokens committed at each step of a block holding <paramref name="masked"/> masked tokens under the
    /// linear schedule: <c>masked / steps</c> each, the remainder one extra to the earliest steps.
    /// </summary>
    public static int[] LinearTransferCounts(int masked, int steps)
    {
        var counts = new int[steps];
        int baseCount = masked / steps, remainder = masked % steps;
        for (int i = 0; i < steps; i++)
            counts[i] = baseCount + (i < remainder ? 1 : 0);
        return counts;
    }
}
