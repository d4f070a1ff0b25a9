namespace PolicyKit;

/// <summary>
/// Everything a policy may look at when it plans one layer of one denoising step. The engine keeps the
/// counters, so a policy is a pure function of this value and can be property-tested without a model.
/// Passed <c>in</c>: it is a few dozen bytes and must not be copied on the hot path.
/// </summary>
/// <remarks>
/// Lengths are in sequence positions. In a batch, prompts are left-padded to one length, so the segment
/// layout is the same for every sample. The <c>StepsSince…Refresh</c> counters count forward passes since
/// the segment was last fully recomputed at <see cref="Layer"/>: 1 at the step right after a refresh. Before
/// anything was cached they hold <see cref="NeverRefreshed"/>, and <see cref="Step"/> is 0.
/// </remarks>
public readonly struct StepContext
{
    /// <summary>The counter value of a segment that has no cached rows yet.</summary>
    public const int NeverRefreshed = int.MaxValue;

    /// <summary>Forward pass number within the generation, from 0. Never reset at block boundaries.</summary>
    public int Step { get; init; }

    /// <summary>Layer index, from 0.</summary>
    public int Layer { get; init; }

    public int LayerCount { get; init; }

    /// <summary>Index of the active block, from 0.</summary>
    public int BlockIndex { get; init; }

    public int BlockCount { get; init; }

    /// <summary>Forward pass number within the active block, from 0.</summary>
    public int StepInBlock { get; init; }

    /// <summary>True on the first forward pass of a block (and so on step 0).</summary>
    public bool IsBlockStart => StepInBlock == 0;

    public int PromptLength { get; init; }

    public int ResponseLength { get; init; }

    /// <summary>Offset of the active block inside the response.</summary>
    public int ActiveBlockStart { get; init; }

    public int ActiveBlockLength { get; init; }

    /// <summary>
    /// The layer of this step whose <see cref="LayerPlan.Trigger"/> fired (the first one), or null when none fired at an
    /// earlier layer. Always null or below <see cref="Layer"/>: a test decides the layers after it, never its own.
    /// </summary>
    public int? TriggeredAtLayer { get; init; }

    public int StepsSincePromptRefresh { get; init; }

    public int StepsSinceResponsePrefixRefresh { get; init; }

    public int StepsSinceActiveBlockRefresh { get; init; }

    public int StepsSinceResponseSuffixRefresh { get; init; }

    /// <summary>Length of a segment in positions.</summary>
    public int LengthOf(Segment segment) => segment switch
    {
        Segment.Prompt => PromptLength,
        Segment.ResponsePrefix => ActiveBlockStart,
        Segment.ActiveBlock => ActiveBlockLength,
        Segment.ResponseSuffix => ResponseLength - ActiveBlockStart - ActiveBlockLength,
        _ => throw new ArgumentOutOfRangeException(nameof(segment)),
    };

    /// <summary>Steps since a segment was last fully recomputed at this layer.</summary>
    public int StepsSinceRefresh(Segment segment) => segment switch
    {
        Segment.Prompt => StepsSincePromptRefresh,
        Segment.ResponsePrefix => StepsSinceResponsePrefixRefresh,
        Segment.ActiveBlock => StepsSinceActiveBlockRefresh,
        Segment.ResponseSuffix => StepsSinceResponseSuffixRefresh,
        _ => throw new ArgumentOutOfRangeException(nameof(segment)),
    };

    public override string ToString() =>
        $"step {Step} layer {Layer}/{LayerCount} block {BlockIndex}/{BlockCount} (step {StepInBlock}) " +
        $"prompt {PromptLength} response {ResponseLength} active [{ActiveBlockStart}, +{ActiveBlockLength}) " +
        $"since-refresh {StepsSincePromptRefresh}/{StepsSinceResponsePrefixRefresh}/{StepsSinceActiveBlockRefresh}/{StepsSinceResponseSuffixRefresh}" +
        (TriggeredAtLayer is { } triggered ? $" triggered at layer {triggered}" : "");
}
