using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Model;

/// <summary>
/// The rows (sequence columns) one layer computes in one forward, as an <see cref="ILayerCache"/> chose them:
/// every row, none, or the same number of columns in every sequence of the batch. Tensors it holds belong to
/// the layer call that produced them (they are freed when the layer returns).
/// </summary>
public readonly struct LayerRows
{
    private LayerRows(bool isAll, int count, Tensor? columns, Tensor? flatIndex, Tensor? normalisedInput, Tensor? value, int cacheProjectedRows)
    {
        IsAll = isAll;
        Count = count;
        Columns = columns;
        FlatIndex = flatIndex;
        NormalisedInput = normalisedInput;
        Value = value;
        CacheProjectedRows = cacheProjectedRows;
    }

    /// <summary>True when every row is computed: the plain forward, no gather or scatter.</summary>
    public bool IsAll { get; }

    /// <summary>Rows computed per sequence (the sequence length when <see cref="IsAll"/>, 0 for none).</summary>
    public int Count { get; }

    /// <summary>The computed columns of each sequence, <c>[B, n]</c> int64; null when <see cref="IsAll"/> or none.</summary>
    public Tensor? Columns { get; }

    /// <summary>The same rows as indices into a flat <c>[B·T, features]</c> tensor, <c>[B·n]</c> int64 (row-major by sequence).</summary>
    public Tensor? FlatIndex { get; }

    /// <summary>The rows' normalised attention input <c>[B, n, hidden]</c> when the cache already computed it (a probe), else null.</summary>
    public Tensor? NormalisedInput { get; }

    /// <summary>The rows' fresh V <c>[B, n, kvHeads·headDim]</c> when the cache already projected it (a V probe), else null.</summary>
    public Tensor? Value { get; }

    /// <summary>
    /// Rows per sequence on which the cache itself ran a K or V projection (probes, and V it supplies in
    /// <see cref="Value"/>), so that the layer's FLOPs count includes them.
    /// </summary>
    public int CacheProjectedRows { get; init; }

    /// <summary>
    /// Queries per sequence whose attention scores the cache computes once more in <see cref="ILayerCache.UpdateKeyValue"/>
    /// (an attention-received probe), so that the layer's FLOPs count includes them; 0 = no probe.
    /// </summary>
    public int AttentionProbeQueries { get; init; }

    /// <summary>Every row of a sequence of <paramref name="sequenceLength"/> columns.</summary>
    public static LayerRows All(int sequenceLength) => new(true, sequenceLength, null, null, null, null, 0);

    /// <summary>No row: every output row comes from the cache.</summary>
    public static LayerRows None(int cacheProjectedRows = 0) => new(false, 0, null, null, null, null, cacheProjectedRows);

    /// <summary>
    /// The columns <paramref name="columns"/> <c>[B, n]</c> (n &gt; 0) of sequences of <paramref name="sequenceLength"/> columns,
    /// with their normalised input and V where the cache already computed them.
    /// </summary>
    public static LayerRows Subset(Tensor columns, int sequenceLength, Tensor? normalisedInput = null, Tensor? value = null, int cacheProjectedRows = 0)
    {
        ArgumentNullException.ThrowIfNull(columns);
        if (columns.dim() != 2 || columns.dtype != ScalarType.Int64 || columns.shape[1] == 0)
            throw new ArgumentException($"columns must be [B, n] int64 with n > 0, got [{string.Join(", ", columns.shape)}] {columns.dtype}", nameof(columns));
        long b = columns.shape[0];
        var flat = (arange(b, ScalarType.Int64, columns.device).unsqueeze(1) * sequenceLength + columns).view(-1);
        return new(false, (int)columns.shape[1], columns, flat, normalisedInput, value, cacheProjectedRows);
    }

    /// <summary>
    /// These rows of <paramref name="source"/> <c>[B or 1, T, F]</c> → <c>[B, n, F]</c> (for <see cref="IsAll"/>: the source itself).
    /// </summary>
    public Tensor Gather(Tensor source)
    {
        if (IsAll) return source;
        if (Columns is null) throw new InvalidOperationException("no rows are computed: nothing to gather");
        long b = Columns.shape[0], n = Columns.shape[1];
        // A flat index_select where the source is one contiguous [B, T, F] block (hidden states); gather for broadcast rotary phases.
        if (source.shape[0] == b && source.is_contiguous())
            return source.view(b * source.shape[1], -1).index_select(0, FlatIndex!).view(b, n, -1);
        return source.expand(b, -1, -1).gather(1, Columns.unsqueeze(-1).expand(b, n, source.shape[2]));
    }
}
