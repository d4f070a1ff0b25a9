using PolicyKit.Diffusion.Checkpoints;

namespace PolicyKit.Diffusion.Flops;

/// <summary>
/// Analytic FLOPs of the transformer's matrix products, counted as 2 per multiply-add: q/k/v/output
/// projections, attention scores and weighted values, the SwiGLU MLP and the LM head. Norms, rotary
/// embeddings, softmax and residual adds are O(T·d) and left out (under 1% at the sizes we run).
/// </summary>
public sealed class FlopCounter
{
    private readonly long _hidden;
    private readonly long _kvWidth;
    private readonly long _mlpHidden;
    private readonly long _vocab;

    public FlopCounter(int hiddenSize, int heads, int kvHeads, int mlpHiddenSize, int vocabSize, int layers)
    {
        _hidden = hiddenSize;
        _kvWidth = (long)hiddenSize / heads * kvHeads;
        _mlpHidden = mlpHiddenSize;
        _vocab = vocabSize;
        Layers = layers;
    }

    /// <summary>The counter for a model's sizes.</summary>
    public static FlopCounter For(ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new(config.HiddenSize, config.NumHeads, config.NumKvHeads, config.IntermediateSize, config.VocabSize, config.NumLayers);
    }

    public int Layers { get; }

    /// <summary>Query projection for <paramref name="rows"/> rows.</summary>
    public double QueryProjection(long rows) => 2.0 * rows * _hidden * _hidden;

    /// <summary>Key or value projection for <paramref name="rows"/> rows (one of the two).</summary>
    public double KeyOrValueProjection(long rows) => 2.0 * rows * _hidden * _kvWidth;

    /// <summary>Scores (q·k) and weighted values for <paramref name="queries"/> queries over <paramref name="keys"/> keys.</summary>
    public double Attention(long queries, long keys) => 2.0 * 2.0 * queries * keys * _hidden;

    /// <summary>The scores (q·k) alone, as an attention probe computes them a second time.</summary>
    public double AttentionScores(long queries, long keys) => 2.0 * queries * keys * _hidden;

    public double OutputProjection(long rows) => 2.0 * rows * _hidden * _hidden;

    /// <summary>Gate, up and down projections of the SwiGLU MLP.</summary>
    public double Mlp(long rows) => 2.0 * 3.0 * rows * _hidden * _mlpHidden;

    public double LmHead(long rows) => 2.0 * rows * _hidden * _vocab;

    /// <summary>One layer recomputing every row of <paramref name="batch"/> sequences of <paramref name="length"/> tokens.</summary>
    public double FullLayer(long batch, long length) =>
        QueryProjection(batch * length) + 2 * KeyOrValueProjection(batch * length) +
        batch * Attention(length, length) + OutputProjection(batch * length) + Mlp(batch * length);

    /// <summary>
    /// One layer's work, executed against the full layer: <paramref name="computedRows"/> rows per sequence run Q/K
    /// projections, attention over all <paramref name="length"/> keys, the output projection and the MLP;
    /// <paramref name="valueRows"/> of them project V in the layer, and <paramref name="cacheProjectedRows"/> K or V
    /// projections ran in the cache (probes, and V it supplied). Every row computed with nothing from a cache
    /// (<c>computedRows = valueRows = length</c>) executes exactly <see cref="FullLayer"/>. <paramref name="keyLength"/> is the
    /// number of keys the rows attend to when a cache dropped rows from the forward (-1: every row is a key);
    /// <paramref name="attentionProbeQueries"/> queries per sequence had their scores computed again by an attention probe.
    /// </summary>
    public FlopCount Layer(long batch, long length, long computedRows, long valueRows, long cacheProjectedRows, long keyLength = -1, long attentionProbeQueries = 0)
    {
        var keys = keyLength < 0 ? length : keyLength;
        var executed = QueryProjection(batch * computedRows) + KeyOrValueProjection(batch * (computedRows + valueRows + cacheProjectedRows))
                       + batch * Attention(computedRows, keys) + OutputProjection(batch * computedRows) + Mlp(batch * computedRows)
                       + batch * AttentionScores(attentionProbeQueries, keys);
        return new FlopCount(executed, FullLayer(batch, length));
    }

    /// <summary>The uncached forward: every layer in full, the LM head on <paramref name="logitsRows"/> rows per sequence.</summary>
    public double FullForward(long batch, long length, long logitsRows) =>
        Layers * FullLayer(batch, length) + LmHead(batch * logitsRows);
}
