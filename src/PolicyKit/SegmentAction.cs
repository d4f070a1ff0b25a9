namespace PolicyKit;

/// <summary>What a layer does with one segment at one step.</summary>
public enum ActionKind : byte
{
    /// <summary>Recompute every row and overwrite the cache.</summary>
    Refresh = 0,
    /// <summary>Take every row's attention and FFN output (and K/V) from the cache.</summary>
    Reuse = 1,
    /// <summary>Compute a cheap probe, compare it with the cached probe, recompute only the rows that changed.</summary>
    Adaptive = 2,
    /// <summary>
    /// Leave the rows out of the forward: they are neither queries nor keys, and their outputs are not produced.
    /// Only sound for rows whose logits nobody needs this step, so the engine accepts it only in
    /// <see cref="LayerPlan.FarSuffix"/> (DPad's suffix dropout).
    /// </summary>
    Drop = 3,
}

/// <summary>
/// What an adaptive action ranks rows by. The first three are features compared (cosine) with their cached value: the
/// least similar rows are recomputed. The others are scores the engine keeps per row: the highest-scored rows are
/// recomputed; they take a ratio selector only (<see cref="ProbeExtensions.IsSimilarity"/>).
/// </summary>
public enum Probe : byte
{
    /// <summary>The value projection (dLLM-Cache's V-verify; the best probe in its ablation).</summary>
    Value = 0,
    /// <summary>The key projection.</summary>
    Key = 1,
    /// <summary>The layer input (normalised hidden state), which costs no projection.</summary>
    Input = 2,
    /// <summary>
    /// The attention mass a row received at this layer in its last measured forward: the softmax weight the active
    /// block's queries gave it, averaged over heads and queries. The engine measures it only at layers whose plan asks
    /// (<see cref="LayerPlan.MeasuresAttention"/>); its FLOPs (the q·k scores once more) are counted.
    /// </summary>
    AttentionReceived = 3,
    /// <summary>The previous step's confidence of a masked row (the top-1 probability of its logits; 0 where none were computed).</summary>
    Confidence = 4,
    /// <summary>
    /// d2Cache's certainty prior: <see cref="Confidence"/> times the share of decoded (not masked) positions among the
    /// <see cref="ProbeExtensions.CertaintyNeighbourhood"/> positions on each side of the row.
    /// </summary>
    CertaintyPrior = 5,
}

public static class ProbeExtensions
{
    /// <summary>Positions on each side of a row whose decode state weighs its <see cref="Probe.CertaintyPrior"/>.</summary>
    public const int CertaintyNeighbourhood = 4;

    /// <summary>True for the probes compared with a cached value (V, K, input); false for the row scores.</summary>
    public static bool IsSimilarity(this Probe probe) => probe <= Probe.Input;
}

/// <summary>How a fresh probe is compared with the cached one.</summary>
public enum SimilarityMetric : byte
{
    Cosine = 0,
}

/// <summary>How an adaptive action turns similarities into the set of rows to recompute.</summary>
public enum Selector : byte
{
    /// <summary>Recompute the <c>floor(ratio * n)</c> rows with the lowest similarity.</summary>
    Ratio = 0,
    /// <summary>Recompute every row whose similarity is below the threshold.</summary>
    Threshold = 1,
}

/// <summary>
/// One segment's action in a <see cref="LayerPlan"/>. A small immutable value: building one allocates nothing.
/// </summary>
public readonly record struct SegmentAction
{
    private SegmentAction(ActionKind kind, Selector selector, double value, Probe probe, SimilarityMetric metric)
    {
        Kind = kind;
        Selector = selector;
        Value = value;
        Probe = probe;
        Metric = metric;
    }

    public ActionKind Kind { get; }

    /// <summary>Only meaningful when <see cref="Kind"/> is <see cref="ActionKind.Adaptive"/>.</summary>
    public Selector Selector { get; }

    /// <summary>
    /// The ratio in (0, 1] or the similarity threshold in [-1, 1], depending on <see cref="Selector"/>. Double, as the
    /// attributes declare it and dLLM-Cache computes it: <c>floor(0.35 * 180)</c> is 62 in double, 63 in float32 arithmetic.
    /// </summary>
    public double Value { get; }

    public Probe Probe { get; }

    public SimilarityMetric Metric { get; }

    public static SegmentAction Refresh => default;

    public static SegmentAction Reuse { get; } = new(ActionKind.Reuse, Selector.Ratio, 0d, Probe.Value, SimilarityMetric.Cosine);

    /// <summary>Leave the rows out of the forward (see <see cref="ActionKind.Drop"/>).</summary>
    public static SegmentAction Drop { get; } = new(ActionKind.Drop, Selector.Ratio, 0d, Probe.Value, SimilarityMetric.Cosine);

    /// <summary>Recompute the <c>floor(ratio * n)</c> least similar rows. <paramref name="ratio"/> must be in (0, 1].</summary>
    public static SegmentAction AdaptiveRatio(double ratio, Probe probe = Probe.Value, SimilarityMetric metric = SimilarityMetric.Cosine)
    {
        if (!(ratio > 0 && ratio <= 1))
            throw new ArgumentOutOfRangeException(nameof(ratio), ratio, "An adaptive ratio must be in (0, 1].");
        return new(ActionKind.Adaptive, Selector.Ratio, ratio, probe, metric);
    }

    /// <summary>Recompute every row whose similarity is below <paramref name="threshold"/>, which must be in [-1, 1].</summary>
    public static SegmentAction AdaptiveThreshold(double threshold, Probe probe = Probe.Value, SimilarityMetric metric = SimilarityMetric.Cosine)
    {
        if (!probe.IsSimilarity())
            throw new ArgumentOutOfRangeException(nameof(probe), probe, "A similarity threshold needs a similarity probe (Value, Key or Input); rank the row scores with a ratio.");
        if (!(threshold >= -1 && threshold <= 1))
            throw new ArgumentOutOfRangeException(nameof(threshold), threshold, "An adaptive similarity threshold must be in [-1, 1].");
        return new(ActionKind.Adaptive, Selector.Threshold, threshold, probe, metric);
    }

    public override string ToString() => Kind switch
    {
        ActionKind.Refresh => "refresh",
        ActionKind.Reuse => "reuse",
        ActionKind.Drop => "drop",
        _ => Selector == Selector.Ratio
            ? $"adaptive(ratio {Value:0.###}, {(Probe.IsSimilarity() ? "" : "top ")}{Probe})"
            : $"adaptive(similarity < {Value:0.###}, {Probe})",
    };
}
