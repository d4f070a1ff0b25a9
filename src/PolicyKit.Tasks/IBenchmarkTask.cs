namespace PolicyKit.Tasks;

/// <summary>
/// A family of prompts with exactly checkable answers. Text uses upper-case letters, digits and punctuation
/// only, so the byte-level tokenizer maps every character to one token and answer lengths are known.
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
}
