namespace PolicyKit;

/// <summary>
/// A cross-layer trigger (Elastic-Cache's attention-drift test): at the layer whose plan carries it, the engine takes
/// the row that received the most attention at this layer in its last measured forward, computes that row's
/// <see cref="Probe"/> afresh and compares it (cosine) with the cached one. Below <see cref="Threshold"/> in any
/// sequence of the batch, the test fires: the later layers of the same step see
/// <see cref="StepContext.TriggeredAtLayer"/> set to this layer, and their plans decide what that means (Elastic-Cache:
/// refresh everything from the next layer on). A small value: building one allocates nothing.
/// </summary>
/// <param name="Threshold">Cosine similarity below which the test fires, in [-1, 1] (Elastic-Cache's gamma, 0.9).</param>
/// <param name="Probe">The most-attended row's feature that is compared: <see cref="PolicyKit.Probe.Value"/>, <see cref="PolicyKit.Probe.Key"/> or <see cref="PolicyKit.Probe.Input"/>.</param>
public readonly record struct DriftTest(double Threshold, Probe Probe)
{
    /// <summary>A test with its parameters checked.</summary>
    public static DriftTest Create(double threshold, Probe probe = Probe.Key)
    {
        if (!(threshold >= -1 && threshold <= 1))
            throw new ArgumentOutOfRangeException(nameof(threshold), threshold, "A drift threshold is a cosine similarity in [-1, 1].");
        if (!probe.IsSimilarity())
            throw new ArgumentOutOfRangeException(nameof(probe), probe, "A drift test compares a feature with its cached value: Value, Key or Input.");
        return new DriftTest(threshold, probe);
    }

    public override string ToString() => $"drift test ({Probe} of the most-attended row, similarity < {Threshold:0.###})";
}
