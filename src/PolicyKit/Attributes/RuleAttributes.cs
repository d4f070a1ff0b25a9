namespace PolicyKit;

/// <summary>
/// Recompute the prompt every <see cref="Every"/> forward passes: Refresh when
/// <see cref="StepContext.StepsSincePromptRefresh"/> &gt;= <see cref="Every"/>, otherwise Reuse.
/// Without this rule the prompt is computed once and reused for the whole generation.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class PromptRefreshAttribute : Attribute
{
    /// <summary>Refresh interval in forward passes, at least 1 (1 = every step).</summary>
    public int Every { get; set; }

    /// <summary>
    /// Layers the rule applies to, as a C# range: <c>"0..8"</c>, <c>"8.."</c>, <c>"..^4"</c>, <c>"^4.."</c>.
    /// Start inclusive, end exclusive; <c>^n</c> counts from <see cref="StepContext.LayerCount"/>.
    /// Omitted: every layer. Rules of the same kind may not overlap.
    /// </summary>
    public string? Layers { get; set; }
}

/// <summary>
/// Recompute each response segment (prefix, active block, suffix) every <see cref="Every"/> forward passes:
/// Refresh when that segment's own counter &gt;= <see cref="Every"/>, otherwise Reuse, or the
/// <see cref="AdaptiveResponseAttribute"/> action where one covers the layer (dLLM-Cache: full response
/// refresh every K_r, V-verify in between).
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class ResponseRefreshAttribute : Attribute
{
    /// <summary>Refresh interval in forward passes, at least 1 (1 = every step).</summary>
    public int Every { get; set; }

    /// <inheritdoc cref="PromptRefreshAttribute.Layers"/>
    public string? Layers { get; set; }
}

/// <summary>
/// Between full refreshes, update the response adaptively: compute the <see cref="Probe"/> for every response
/// token, compare it (cosine) with the cached probe and recompute only the tokens that changed — the
/// <see cref="Ratio"/> least similar, or those below the similarity <see cref="Threshold"/>. Set exactly one of
/// the two. Without a <see cref="ResponseRefreshAttribute"/> on the layer, the response is adaptive every step
/// after its first computation.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class AdaptiveResponseAttribute : Attribute
{
    /// <summary>Fraction of response tokens recomputed, in (0, 1] (dLLM-Cache's rho, 0.25 in the paper).</summary>
    public double Ratio { get; set; }

    /// <summary>Cosine similarity below which a token is recomputed, in [-1, 1].</summary>
    public double Threshold { get; set; }

    /// <summary>The cheap feature compared with its cached value. V is the best probe in dLLM-Cache's ablation.</summary>
    public Probe Probe { get; set; } = Probe.Value;

    /// <inheritdoc cref="PromptRefreshAttribute.Layers"/>
    public string? Layers { get; set; }
}

/// <summary>
/// Recompute everything at the listed layers on every step (dLLM-Cache always recomputes layer 0).
/// Indices count from 0; an index at or beyond the model's layer count never matches.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class AlwaysRefreshLayersAttribute(params int[] layers) : Attribute
{
    public int[] Layers { get; } = layers;
}

/// <summary>Recompute everything on the first forward pass of each block (Fast-dLLM's block-start refresh).</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class RefreshAllOnBlockStartAttribute : Attribute;

/// <summary>
/// Recompute the active block on every step (Fast-dLLM dual cache); with <see cref="IncludeSuffix"/> also the
/// response after it (Fast-dLLM prefix cache). Takes precedence over the response rules for those segments.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class RefreshActiveBlockAttribute : Attribute
{
    /// <summary>Also recompute the response suffix (everything right of the active block) every step.</summary>
    public bool IncludeSuffix { get; set; }

    /// <inheritdoc cref="PromptRefreshAttribute.Layers"/>
    public string? Layers { get; set; }
}

/// <summary>
/// Recompute everything (every layer, every row not dropped) on a schedule: every <see cref="Every"/> forward passes
/// (<c>Step % Every == 0</c>; dKV-Cache's <c>cache_steps</c>) and/or during the first <see cref="WarmupSteps"/> forward
/// passes of each block (dInfer's warm-up). Set at least one of the two.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class FullRefreshAttribute : Attribute
{
    /// <summary>Full refresh interval in forward passes, at least 1; 0 = no periodic refresh.</summary>
    public int Every { get; set; }

    /// <summary>Forward passes at the start of each block that refresh everything, at least 1; 0 = none.</summary>
    public int WarmupSteps { get; set; }
}

/// <summary>
/// Recompute the response rows in the given decode states on every step, ahead of the region rules (the vicinity,
/// the segments). <c>[RefreshStates(RowStates.Masked | RowStates.JustDecoded)]</c> is dKV-Cache's delayed caching: a
/// token's K/V enter the cache one step after it is decoded, masked tokens are recomputed every step. Settled rows
/// cannot be named (they are what a cache reuses; refresh them with the segment rules).
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class RefreshStatesAttribute(RowStates states) : Attribute
{
    public RowStates States { get; } = states;

    /// <inheritdoc cref="PromptRefreshAttribute.Layers"/>
    public string? Layers { get; set; }
}

/// <summary>
/// Recompute the <see cref="Window"/> response positions on each side of the active block on every step (dInfer's
/// vicinity refresh, w = 16), ahead of the segment rules.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class VicinityAttribute : Attribute
{
    /// <summary>Positions on each side of the active block, at least 1.</summary>
    public int Window { get; set; }

    /// <inheritdoc cref="PromptRefreshAttribute.Layers"/>
    public string? Layers { get; set; }
}

/// <summary>
/// Leave the response suffix beyond <see cref="Window"/> positions right of the active block out of every forward,
/// the first included: those masked rows are neither queries nor keys (DPad's suffix dropout). Applies at every layer.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class DropFarSuffixAttribute : Attribute
{
    /// <summary>Suffix positions kept next to the active block, at least 1.</summary>
    public int Window { get; set; }
}

/// <summary>
/// Run Elastic-Cache's attention-drift test at every covered layer until it fires (<see cref="DriftTest"/>): the
/// most-attended row's fresh <see cref="Probe"/> against its cached value; below <see cref="Threshold"/>, every later
/// layer of the same step is recomputed in full (depth-aware refresh: the shallow layers keep their cache). The
/// covered layers measure the attention received on every step, so the most-attended row is known.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class DriftTriggerAttribute : Attribute
{
    /// <summary>Cosine similarity below which the test fires, in [-1, 1] (Elastic-Cache's gamma = 0.9).</summary>
    public double Threshold { get; set; }

    /// <summary>The compared feature of the most-attended row: Value, Key or Input.</summary>
    public Probe Probe { get; set; } = Probe.Key;

    /// <inheritdoc cref="PromptRefreshAttribute.Layers"/>
    public string? Layers { get; set; }
}

/// <summary>
/// Update the response rows in the given decode states adaptively on every step, ahead of the region rules: the
/// <see cref="Ratio"/> rows ranked first by <see cref="Probe"/> among them are recomputed, the others reused (d2Cache's
/// first stage: masked rows by <see cref="Probe.CertaintyPrior"/>). The selection runs across every row in those states,
/// wherever they are. A similarity probe may take a <see cref="Threshold"/> instead of the ratio.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class AdaptiveStatesAttribute(RowStates states) : Attribute
{
    public RowStates States { get; } = states;

    /// <summary>Fraction of those rows recomputed, in (0, 1].</summary>
    public double Ratio { get; set; }

    /// <summary>Cosine similarity below which a row is recomputed, in [-1, 1] (similarity probes only).</summary>
    public double Threshold { get; set; }

    /// <summary>What the rows are ranked by.</summary>
    public Probe Probe { get; set; } = Probe.CertaintyPrior;

    /// <inheritdoc cref="PromptRefreshAttribute.Layers"/>
    public string? Layers { get; set; }
}
