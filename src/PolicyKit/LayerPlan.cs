namespace PolicyKit;

/// <summary>
/// What one layer does at one denoising step: an action for each <see cref="Segment"/>, and optional overrides for
/// rows classed by region (the <see cref="Window"/> around the active block, the far suffix beyond it) and by
/// decode state (<see cref="RowStates"/>). Policies return one per (step, layer); the layer executor carries it out.
/// </summary>
/// <remarks>
/// The action of one response row is, from strongest to weakest: <see cref="FarSuffix"/> for suffix rows more than
/// <see cref="Window"/> positions right of the active block; then <see cref="JustDecoded"/> or <see cref="Masked"/> by the
/// row's decode state; then <see cref="Vicinity"/> for rows within <see cref="Window"/> positions of the active block
/// (either side, inside the response, the block itself excluded); then the row's segment action. A null override does
/// not apply, so <c>default(LayerPlan)</c> is still <see cref="RefreshAll"/> and the first-wave plans are unchanged.
/// Prompt rows take <see cref="Prompt"/> only.
/// </remarks>
public readonly record struct LayerPlan(
    SegmentAction Prompt,
    SegmentAction ResponsePrefix,
    SegmentAction ActiveBlock,
    SegmentAction ResponseSuffix)
{
    /// <summary>Positions on each side of the active block that form its vicinity; 0 = no vicinity, and no far suffix.</summary>
    public int Window { get; init; }

    /// <summary>The action of response rows within <see cref="Window"/> positions of the active block (null: their segment's).</summary>
    public SegmentAction? Vicinity { get; init; }

    /// <summary>
    /// The action of suffix rows beyond <see cref="Window"/> (null: their segment's). The only place where
    /// <see cref="SegmentAction.Drop"/> is accepted: those rows' logits are never needed this step.
    /// </summary>
    public SegmentAction? FarSuffix { get; init; }

    /// <summary>The action of response rows that are still masked (null: by region).</summary>
    public SegmentAction? Masked { get; init; }

    /// <summary>The action of response rows decoded at the previous step (null: by region).</summary>
    public SegmentAction? JustDecoded { get; init; }

    /// <summary>
    /// Measure the attention each row receives at this layer (<see cref="Probe.AttentionReceived"/>) for the next steps'
    /// plans. Set it on every plan of a policy that ranks rows by attention, the refreshes included, so the measure is
    /// fresh; a <see cref="Trigger"/> or an action ranking by attention measures it as well (<see cref="MeasuresAttention"/>).
    /// </summary>
    public bool MeasureAttention { get; init; }

    /// <summary>The cross-layer test run at this layer (null: none). See <see cref="DriftTest"/>.</summary>
    public DriftTest? Trigger { get; init; }

    /// <summary>True when the engine measures the attention received at this layer and step.</summary>
    public bool MeasuresAttention => MeasureAttention || Trigger is not null ||
        RanksByAttention(Prompt) || RanksByAttention(ResponsePrefix) || RanksByAttention(ActiveBlock) || RanksByAttention(ResponseSuffix) ||
        RanksByAttention(Vicinity) || RanksByAttention(FarSuffix) || RanksByAttention(Masked) || RanksByAttention(JustDecoded);

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

    /// <summary>A copy with the given segments' actions replaced (the overrides are kept).</summary>
    public LayerPlan With(Segments segments, SegmentAction action) => this with
    {
        Prompt = (segments & Segments.Prompt) != 0 ? action : Prompt,
        ResponsePrefix = (segments & Segments.ResponsePrefix) != 0 ? action : ResponsePrefix,
        ActiveBlock = (segments & Segments.ActiveBlock) != 0 ? action : ActiveBlock,
        ResponseSuffix = (segments & Segments.ResponseSuffix) != 0 ? action : ResponseSuffix,
    };

    /// <summary>True when the plan has any override slot set.</summary>
    public bool HasOverrides => (Window > 0 && (Vicinity is not null || FarSuffix is not null)) || Masked is not null || JustDecoded is not null;

    /// <summary>True when every row is recomputed in full: every segment Refresh and no override other than Refresh.</summary>
    public bool IsRefreshAll =>
        Prompt.Kind == ActionKind.Refresh && ResponsePrefix.Kind == ActionKind.Refresh &&
        ActiveBlock.Kind == ActionKind.Refresh && ResponseSuffix.Kind == ActionKind.Refresh &&
        IsRefreshOrUnset(Masked) && IsRefreshOrUnset(JustDecoded) &&
        (Window == 0 || (IsRefreshOrUnset(Vicinity) && IsRefreshOrUnset(FarSuffix)));

    /// <summary>The action of a response row, by the precedence documented on the type.</summary>
    /// <param name="segment">The row's segment (not <see cref="Segment.Prompt"/>).</param>
    /// <param name="distanceFromBlock">Positions between the row and the active block (1 = adjacent; 0 inside it).</param>
    /// <param name="state">The row's decode state (one flag).</param>
    public SegmentAction ActionOfResponseRow(Segment segment, int distanceFromBlock, RowStates state)
    {
        if (Window > 0 && FarSuffix is { } far && segment == Segment.ResponseSuffix && distanceFromBlock > Window) return far;
        if (state == RowStates.JustDecoded && JustDecoded is { } just) return just;
        if (state == RowStates.Masked && Masked is { } masked) return masked;
        if (Window > 0 && Vicinity is { } near && segment != Segment.ActiveBlock && distanceFromBlock <= Window) return near;
        return this[segment];
    }

    private static bool RanksByAttention(SegmentAction? action) => action is { Kind: ActionKind.Adaptive, Probe: Probe.AttentionReceived };

    private static bool IsRefreshOrUnset(SegmentAction? action) => action is null || action.Value.Kind == ActionKind.Refresh;

    public override string ToString()
    {
        var text = $"prompt {Prompt}; prefix {ResponsePrefix}; block {ActiveBlock}; suffix {ResponseSuffix}";
        if (Window > 0 && Vicinity is { } near) text += $"; vicinity ±{Window} {near}";
        if (Window > 0 && FarSuffix is { } far) text += $"; beyond {Window} {far}";
        if (Masked is { } masked) text += $"; masked {masked}";
        if (JustDecoded is { } just) text += $"; just decoded {just}";
        if (Trigger is { } trigger) text += $"; {trigger}";
        else if (MeasureAttention) text += "; attention measured";
        return text;
    }
}
