namespace PolicyKit.Diffusion.Training;

/// <summary>One training sequence: prompt tokens (never masked) and the response the model learns to unmask.</summary>
public sealed record TrainingExample(int[] Prompt, int[] Response);
