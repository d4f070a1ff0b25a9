namespace PolicyKit.Diffusion.Training;

/// <summary>Optimiser settings of masked-diffusion training (AdamW, linear warm-up, cosine decay).</summary>
public sealed record TrainerOptions
{
    public int TotalSteps { get; init; } = 2000;
    public double LearningRate { get; init; } = 1e-3;
    public double MinLearningRate { get; init; } = 1e-4;
    public int WarmupSteps { get; init; } = 100;
    public double WeightDecay { get; init; } = 0.01;
    public double GradientClip { get; init; } = 1.0;
    public int Seed { get; init; }

    /// <summary>The learning rate at a step: linear warm-up, then cosine decay to <see cref="MinLearningRate"/>.</summary>
    public double LearningRateAt(int step)
    {
        if (step < WarmupSteps) return LearningRate * (step + 1) / WarmupSteps;
        double progress = Math.Min(1.0, (double)(step - WarmupSteps) / Math.Max(1, TotalSteps - WarmupSteps));
        return MinLearningRate + 0.5 * (LearningRate - MinLearningRate) * (1 + Math.Cos(Math.PI * progress));
    }
}
