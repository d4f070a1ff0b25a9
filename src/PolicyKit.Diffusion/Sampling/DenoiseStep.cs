namespace PolicyKit.Diffusion.Sampling;

/// <summary>
/// Where a sampler is in its step loop when it asks for logits. Lengths are in sequence columns: prompts are
/// left-padded to <see cref="PromptLength"/>, so the response starts at the same column in every row.
/// The denoiser returns logits only for the active block (the positions the sampler can commit).
/// </summary>
public readonly record struct DenoiseStep(
    int Step,
    int BlockIndex,
    int BlockCount,
    int StepInBlock,
    int PromptLength,
    int ResponseLength,
    int ActiveBlockStart,
    int ActiveBlockLength)
{
    /// <summary>First sequence column whose logits are needed.</summary>
    public int LogitsStart => PromptLength + ActiveBlockStart;

    public int LogitsLength => ActiveBlockLength;

    public int SequenceLength => PromptLength + ResponseLength;
}
