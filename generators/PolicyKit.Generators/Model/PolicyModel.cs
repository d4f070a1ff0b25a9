namespace PolicyKit.Generators.Model;

/// <summary>One end of a layer range: an index from the first layer, or (<see cref="FromEnd"/>) from the layer count.</summary>
internal sealed record LayerBound(int Value, bool FromEnd)
{
    public int Resolve(int layerCount) => FromEnd ? layerCount - Value : Value;

    public override string ToString() => FromEnd ? "^" + Value : Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>
/// A C#-style layer range, start inclusive, end exclusive; a null end is open. <see cref="Text"/> is the
/// normalised source text (whitespace removed), or null when the rule names no range (every layer).
/// </summary>
internal sealed record LayerRange(string? Text, LayerBound? Start, LayerBound? End)
{
    public static readonly LayerRange AllLayers = new(null, null, null);

    /// <summary>The concrete [start, end) of this range for a model with <paramref name="layerCount"/> layers, clamped to it.</summary>
    public (int Start, int End) Resolve(int layerCount)
    {
        int start = Start?.Resolve(layerCount) ?? 0;
        int end = End?.Resolve(layerCount) ?? layerCount;
        return (Clamp(start, layerCount), Clamp(end, layerCount));
    }

    /// <summary>True when no bound depends on the layer count, so the range is the same for every model.</summary>
    public bool IsAbsolute => Start is not { FromEnd: true } && End is not { FromEnd: true };

    public bool CoversEveryLayer => Start is null or { Value: 0, FromEnd: false } && End is null or { Value: 0, FromEnd: true };

    public int LargestBoundValue => System.Math.Max(Start?.Value ?? 0, End?.Value ?? 0);

    private static int Clamp(int value, int layerCount) => value < 0 ? 0 : value > layerCount ? layerCount : value;
}

/// <summary><c>[PromptRefresh]</c> or <c>[ResponseRefresh]</c>: refresh when the segment counter reaches <see cref="Every"/>.</summary>
internal sealed record IntervalRule(int Every, LayerRange Layers);

/// <summary><c>[AdaptiveResponse]</c>: a ratio or threshold selector over a probe (the <c>PolicyKit.Probe</c> value).</summary>
internal sealed record AdaptiveRule(bool UsesThreshold, double Value, int Probe, LayerRange Layers);

/// <summary><c>[RefreshActiveBlock]</c>: the active block (and the suffix) refreshed every step.</summary>
internal sealed record ActiveBlockRule(bool IncludeSuffix, LayerRange Layers);

/// <summary>
/// The second-wave rules, each at every layer; 0 = not declared. <see cref="RefreshStates"/> is the
/// <c>PolicyKit.RowStates</c> flags value.
/// </summary>
internal sealed record SecondWaveRules(int FullRefreshEvery, int WarmupSteps, int RefreshStates, int VicinityWindow, int DropWindow)
{
    public static readonly SecondWaveRules None = new(0, 0, 0, 0, 0);

    /// <summary>The layers of <c>[RefreshStates]</c> and of <c>[Vicinity]</c> (every layer when not set).</summary>
    public LayerRange RefreshStatesLayers { get; init; } = LayerRange.AllLayers;

    public LayerRange VicinityLayers { get; init; } = LayerRange.AllLayers;

    /// <summary><c>[DriftTrigger]</c>, or null.</summary>
    public DriftRule? Drift { get; init; }

    /// <summary><c>[AdaptiveStates]</c>, or null.</summary>
    public AdaptiveStatesRule? AdaptiveStates { get; init; }
}

/// <summary><c>[DriftTrigger]</c>: the test's threshold and probe (the <c>PolicyKit.Probe</c> value) at the covered layers.</summary>
internal sealed record DriftRule(double Threshold, int Probe, LayerRange Layers);

/// <summary><c>[AdaptiveStates]</c>: the <c>RowStates</c> flags, a ratio or threshold selector and its probe.</summary>
internal sealed record AdaptiveStatesRule(int States, bool UsesThreshold, double Value, int Probe, LayerRange Layers);

/// <summary>
/// Everything the emitter needs to write one policy class: plain values only, so two runs over unchanged
/// source produce equal models and the incremental pipeline skips re-emitting.
/// </summary>
internal sealed record PolicyModel(
    string? Namespace,
    string ClassName,
    string PolicyName,
    string Description,
    bool UsesCache,
    EquatableArray<int> AlwaysRefreshLayers,
    bool RefreshAllOnBlockStart,
    EquatableArray<IntervalRule> PromptRules,
    EquatableArray<IntervalRule> ResponseRules,
    EquatableArray<AdaptiveRule> AdaptiveRules,
    EquatableArray<ActiveBlockRule> ActiveBlockRules,
    SecondWaveRules SecondWave)
{
    /// <summary>True when the class implements <c>AdjustPlan</c>, whose plans the generator cannot see.</summary>
    public bool AdjustsPlan { get; init; }

    public string FullyQualifiedName => Namespace is null ? "global::" + ClassName : "global::" + Namespace + "." + ClassName;

    /// <summary>A file name unique within the compilation (namespace + class).</summary>
    public string HintName => (Namespace is null ? ClassName : Namespace + "." + ClassName) + ".CachePolicy.g.cs";
}

/// <summary>
/// The parser's result for one <c>[CachePolicy]</c> declaration: the model (null when the declaration has
/// errors, so nothing half-valid is emitted), its diagnostics, and the name with its location for the
/// compilation-wide duplicate check.
/// </summary>
internal sealed record PolicyDeclaration(
    string PolicyName,
    LocationInfo? NameLocation,
    PolicyModel? Model,
    EquatableArray<DiagnosticInfo> Diagnostics);

/// <summary>What the per-compilation outputs need to know about the compilation itself.</summary>
internal sealed record CompilationFacts(string AssemblyName, bool HasKeyedDependencyInjection);
