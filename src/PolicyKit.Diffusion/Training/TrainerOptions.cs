namespace PolicyKit.Diffusion.Training;

/// <summary>What a training step teaches.</summary>
public enum TrainingObjective
{
    /// <summary>Masked diffusion (LLaDA's SFT loss): response tokens masked at a random ratio, bidirectional attention.</summary>
    Diffusion,

    /// <summary>
    /// Autoregressive pre-training: causal attention, every response token predicted from the tokens before it
    /// (teacher forcing). Needs shifted logits (Dream layout), where row i predicts token i + 1.
    /// </summary>
    Autoregressive,
}

/// <summary>Optimiser settings of training (AdamW, linear warm-up, cosine decay) and the objective.</summary>
public sealed record TrainerOptions
{
    public TrainingObjective Objective { get; init; } = TrainingObjective.Diffusion;

    public int TotalSteps { get; init; } = 2000;
    public double LearningRate { get; init; } = 1e-3;
    public double MinLearningRate { get; init; } = 1e-4;
    public int WarmupSteps { get; init; } = 100;
    public double WeightDecay { get; init; } = 0.01;
    public double GradientClip { get; init; } = 1.0;
    public int Seed { get; init; }

    /// <summary>
    /// Diffusion objective: the share of sequences (0-1) whose masked tokens are a suffix of the response instead of
    /// drawn one by one, the left-to-right states an adapted autoregressive model decodes through. 0: LLaDA's loss.
    /// </summary>
    public double SuffixMaskShare { get; init; }

    /// <summary>The learning rate at a step: linear warm-up, then cosine decay to <see cref="MinLearningRate"/>.</summary>
    public double LearningRateAt(int step)
    {
        if (step < WarmupSteps) return LearningRate * (step + 1) / WarmupSteps;
        double progress = Math.Min(1.0, (double)(step - WarmupSteps) / Math.Max(1, TotalSteps - WarmupSteps));
        return MinLearningRate + 0.5 * (LearningRate - MinLearningRate) * (1 + Math.Cos(Math.PI * progress));
    }
}
