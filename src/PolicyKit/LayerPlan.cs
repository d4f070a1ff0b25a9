namespace PolicyKit;

/// <summary>
/// What one layer does at one denoising step: an action for each <see cref="Segment"/>.
/// Policies return one per (step, layer); the layer executor carries it out.
/// </summary>
public readonly record struct LayerPlan(
    SegmentAction Prompt,
    SegmentAction ResponsePrefix,
    SegmentAction ActiveBlock,
    SegmentAction ResponseSuffix)
{
    /// <summary>Recompute everything (the plan of the first step and of the uncached model).</summary>
    public static LayerPlan RefreshAll => default;

    /// <summary>Reuse every segment from the cache.</summary>
    public static LayerPlan ReuseAll { get; } = All(SegmentAction.Reuse);

    /// <summary>The same action for every segment.</summary>
    public static LayerPlan All(SegmentAction action) => new(action, action, action, action);

    /// <summary>The same action for the three response segments, another for the prompt.</summary>
    public static LayerPlan Split(SegmentAction prompt, SegmentAction response) => new(prompt, response, response, response);

    public SegmentAction this[Segment segment] => segment switch
    {
        Segment.Prompt => Prompt,
        Segment.ResponsePrefix => ResponsePrefix,
        Segment.ActiveBlock => ActiveBlock,
        Segment.ResponseSuffix => ResponseSuffix,
        _ => throw new ArgumentOutOfRangeException(nameof(segment)),
    };

    /// <summary>A copy with the given segments' actions replaced.</summary>
    public LayerPlan With(Segments segments, SegmentAction action) => new(
        (segments & Segments.Prompt) != 0 ? action : Prompt,
        (segments & Segments.ResponsePrefix) != 0 ? action : ResponsePrefix,
        (segments & Segments.ActiveBlock) != 0 ? action : ActiveBlock,
        (segments & Segments.ResponseSuffix) != 0 ? action : ResponseSuffix);

    /// <summary>True when every segment is recomputed in full.</summary>
    public bool IsRefreshAll =>
        Prompt.Kind == ActionKind.Refresh && ResponsePrefix.Kind == ActionKind.Refresh &&
        ActiveBlock.Kind == ActionKind.Refresh && ResponseSuffix.Kind == ActionKind.Refresh;

    public override string ToString() =>
        $"prompt {Prompt}; prefix {ResponsePrefix}; block {ActiveBlock}; suffix {ResponseSuffix}";
}
