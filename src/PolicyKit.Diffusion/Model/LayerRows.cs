using TorchSharp;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Model;

/// <summary>
/// The rows (sequence columns) one layer computes in one forward, as an <see cref="ILayerCache"/> chose them:
/// every row, none, one contiguous range, or the same number of columns in every sequence of the batch. Tensors it
/// holds belong to the layer call that produced them (they are freed when the layer returns).
/// </summary>
/// <remarks>
/// <see cref="Gather"/> and <see cref="Scatter"/> are the one place that moves rows between full-length tensors and
/// the computed rows, with as few native calls as the shape allows: a range is a view (<c>narrow</c>) and a copy, the
/// columns of a single sequence one <c>index_select</c> / <c>index_copy_</c>, a batch of different columns the flat index.
/// </remarks>
public readonly struct LayerRows
{
    private readonly int _rangeStart;
    private readonly bool _isRange;
    private readonly long[]? _hostColumns;

    private LayerRows(bool isAll, int count, Tensor? columns, Tensor? flatIndex, Tensor? normalisedInput, Tensor? value, int cacheProjectedRows,
        bool isRange = false, int rangeStart = 0, long[]? hostColumns = null)
    {
        IsAll = isAll;
        Count = count;
        Columns = columns;
        FlatIndex = flatIndex;
        NormalisedInput = normalisedInput;
        Value = value;
        CacheProjectedRows = cacheProjectedRows;
        _isRange = isRange;
        _rangeStart = rangeStart;
        _hostColumns = hostColumns;
    }

    /// <summary>True when every row is computed: the plain forward, no gather or scatter.</summary>
    public bool IsAll { get; }

    /// <summary>Rows computed per sequence (the sequence length when <see cref="IsAll"/>, 0 for none).</summary>
    public int Count { get; }

    /// <summary>Columns <c>[Start, Start + Count)</c> of every sequence, when the rows are one such range (else null).</summary>
    public (int Start, int Length)? Range => _isRange ? (_rangeStart, Count) : null;

    /// <summary>
    /// The computed columns of each sequence, <c>[B, n]</c> int64; null when <see cref="IsAll"/>, none, a
    /// <see cref="Range"/> (no index tensor is built for a range) or host columns of one sequence (<see cref="FlatIndex"/> is them).
    /// </summary>
    public Tensor? Columns { get; }

    /// <summary>
    /// The same rows as indices into a flat <c>[B·T, features]</c> tensor, <c>[B·n]</c> int64 (row-major by sequence);
    /// null when <see cref="IsAll"/>, none or a <see cref="Range"/>.
    /// </summary>
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

    /// <summary>
    /// Columns <c>[0, n)</c> of every sequence whose residual adds this layer leaves out (none computed, all reused): the
    /// layer adds its attention and FFN outputs to the other columns only, in place, and these rows of the hidden state it
    /// returns keep their value from an earlier layer. The cache adds the deferred outputs, in the same order, before any of
    /// these rows is read again, so the result is the same bit for bit; rows nobody reads again (the prompt, at a step that
    /// reuses it everywhere) are never updated. 0 (the default): every column is updated.
    /// </summary>
    public int DeferredColumns { get; init; }

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
    /// The columns of each sequence given on the host, <paramref name="columns"/> <c>B·n</c> row-major (n &gt; 0, each in
    /// <c>[0, sequenceLength)</c>): one index tensor for the flat rows and, for a batch of several sequences, one for the columns.
    /// </summary>
    public static LayerRows Subset(long[] columns, int batchSize, int sequenceLength, Device device, Tensor? normalisedInput = null, Tensor? value = null,
        int cacheProjectedRows = 0)
    {
        ArgumentNullException.ThrowIfNull(columns);
        if (batchSize < 1 || columns.Length == 0 || columns.Length % batchSize != 0)
            throw new ArgumentException($"{columns.Length} columns for {batchSize} sequences: give the same number n > 0 for each", nameof(columns));
        int n = columns.Length / batchSize;
        var flat = new long[columns.Length];
        for (int r = 0; r < batchSize; r++)
            for (int j = 0; j < n; j++)
            {
                var c = columns[r * n + j];
                if (c < 0 || c >= sequenceLength) throw new ArgumentOutOfRangeException(nameof(columns), $"column {c} is outside [0, {sequenceLength})");
                flat[r * n + j] = (long)r * sequenceLength + c;
            }
        var flatIndex = tensor(flat, [flat.Length], device: device);
        // One sequence: its flat index is its columns, and every gather or scatter goes by the flat index.
        var columnTensor = batchSize == 1 ? null : tensor(columns, [batchSize, n], device: device);
        return new(false, n, columnTensor, flatIndex, normalisedInput, value, cacheProjectedRows, hostColumns: columns);
    }

    /// <summary>Columns <c>[start, start + length)</c> (length &gt; 0) of every sequence: no index tensor, rows move as views.</summary>
    public static LayerRows ContiguousRange(int start, int length, int sequenceLength, Tensor? normalisedInput = null, Tensor? value = null,
        int cacheProjectedRows = 0)
    {
        if (length < 1 || start < 0 || start + (long)length > sequenceLength)
            throw new ArgumentOutOfRangeException(nameof(start), $"range [{start}, {start + (long)length}) must be non-empty and inside [0, {sequenceLength})");
        if (length == sequenceLength) return All(sequenceLength) with { CacheProjectedRows = cacheProjectedRows };
        return new(false, length, null, null, normalisedInput, value, cacheProjectedRows, isRange: true, rangeStart: start);
    }

    /// <summary>
    /// Column <paramref name="j"/> of sequence <paramref name="row"/>'s computed rows, read on the host where the rows
    /// were chosen there (a range, host columns); null when they live only in <see cref="Columns"/>.
    /// </summary>
    public long? HostColumn(int row, int j) =>
        _isRange ? _rangeStart + j : _hostColumns is { } host ? host[row * Count + j] : null;

    /// <summary>
    /// These rows of <paramref name="source"/> <c>[B or 1, T, ...]</c> → <c>[B (1 for a range or one sequence), n, ...]</c>
    /// (for <see cref="IsAll"/>: the source itself).
    /// </summary>
    public Tensor Gather(Tensor source)
    {
        if (IsAll) return source;
        if (_isRange) return source.narrow(1, _rangeStart, Count);
        if (FlatIndex is null) throw new InvalidOperationException("no rows are computed: nothing to gather");
        // One sequence: index dimension 1 (its flat index is its columns).
        if (Columns is null || Columns.shape[0] == 1) return source.index_select(1, FlatIndex);
        long b = Columns.shape[0], n = Columns.shape[1];
        var rest = source.shape.Skip(2).ToArray();
        long[] gathered = [b, n, .. rest];
        if (source.shape[0] == 1) return source.select(0, 0).index_select(0, Columns.reshape(-1)).view(gathered);
        // A flat index_select over one contiguous [B, T, ...] block.
        return source.contiguous().view([b * source.shape[1], .. rest]).index_select(0, FlatIndex!).view(gathered);
    }

    /// <summary>
    /// Writes <paramref name="computed"/> <c>[B, n, F]</c> (these rows) into <paramref name="store"/> <c>[B, T, F]</c>
    /// (contiguous) in place; for <see cref="IsAll"/> a copy of the whole.
    /// </summary>
    public void Scatter(Tensor store, Tensor computed)
    {
        if (IsAll)
        {
            store.copy_(computed.view_as(store));
            return;
        }
        if (_isRange)
        {
            using var part = store.narrow(1, _rangeStart, Count);
            part.copy_(computed);
            return;
        }
        if (FlatIndex is null) throw new InvalidOperationException("no rows are computed: nothing to scatter");
        if (Columns is null || Columns.shape[0] == 1)
        {
            store.index_copy_(1, FlatIndex!, computed);
            return;
        }
        using var flatStore = store.view(store.shape[0] * store.shape[1], -1);
        using var flatRows = computed.reshape(FlatIndex!.shape[0], -1);
        flatStore.index_copy_(0, FlatIndex!, flatRows);
    }
}
