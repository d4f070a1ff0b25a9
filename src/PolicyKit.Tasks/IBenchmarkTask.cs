namespace PolicyKit.Tasks;

/// <summary>
/// A family of prompts with exactly checkable answers. Text uses letters, digits and punctuation in patterns
/// the byte-level tokenizer maps to one token per character (no merges apply), so answer lengths are known.
/// </summary>
public interface IBenchmarkTask
{
    string Name { get; }

    /// <summary>What the task exercises, for listings.</summary>
    string Description { get; }

    /// <summary>Tokens the model generates for this task (the answer, then end-of-sequence padding).</summary>
    int GenLength { get; }

    /// <summary>Semi-autoregressive block length used to decode this task.</summary>
    int BlockLength { get; }

    /// <summary>Draws one sample; deterministic for the state of <paramref name="random"/>.</summary>
    TaskSample Sample(Random random);

    /// <summary>
    /// The variant one training batch is drawn from: shorter prompts (fewer records, fewer few-shot examples)
    /// make most steps cheaper; the answer sits at the same relative position, which is all rotary attention
    /// sees. The test set always uses the task itself.
    /// </summary>
    IBenchmarkTask TrainingVariant(Random random) => this;
}
