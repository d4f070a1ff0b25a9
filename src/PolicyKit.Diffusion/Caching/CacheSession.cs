using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Model;
using PolicyKit.Diffusion.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Caching;

/// <summary>
/// Everything one generation caches, and the executor that runs a policy's plan on each layer.
/// Per layer it keeps K and V (after rotary), the attention output (after the output projection, before the
/// residual add), the FFN output (before the residual add) and the normalised layer input, for every row and
/// column. <see cref="ForStep"/> hands the model the cache hook of one forward: at each layer it asks the policy
/// for a <see cref="LayerPlan"/> and tells the layer which rows to recompute (their queries attend to all keys:
/// fresh where recomputed, cached elsewhere); it writes what the layer computed into the caches in place and
/// fills the rows not recomputed from the cached outputs (dLLM-Cache, ../shared/REFERENCE.md §2). The layer
/// itself (<see cref="TransformerLayer.Forward"/>) composes <c>h + Attn + FFN</c>.
/// </summary>
/// <remarks>
/// One session per generation: no state is shared between sessions, so concurrent generations over one model
/// are independent. The cache tensors live outside every dispose scope and are freed by <see cref="Dispose"/>.
/// </remarks>
public sealed class CacheSession : IDisposable
{
    private readonly ICachePolicy _policy;
    private readonly ModelConfig _config;
    private readonly LayerCache?[] _layers;
    /// <summary>Per layer and column: the step at which that column was last recomputed as part of a refreshed segment (-1: never).</summary>
    private readonly int[][] _lastRefresh;
    private int _lastStep = -1;
    private int _rows, _columns;
    private bool _disposed;

    public CacheSession(ICachePolicy policy, ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(config);
        _policy = policy;
        _config = config;
        _layers = new LayerCache?[config.NumLayers];
        _lastRefresh = new int[config.NumLayers][];
    }

    public ICachePolicy Policy => _policy;

    public CacheStatistics Statistics { get; } = new();

    /// <summary>
    /// Bytes the cache tensors of this session hold now. Each layer's caches are allocated once, at its first
    /// forward, and kept until <see cref="Dispose"/>, so after a generation this is also the peak.
    /// </summary>
    public long CacheBytes => _disposed ? 0 : _layers.Sum(layer => layer?.Bytes ?? 0);

    /// <summary>
    /// The cache hook for the one forward pass of <paramref name="step"/> (pass it to
    /// <see cref="DiffusionModel.Forward"/>). Steps must increase from one forward to the next; the hook serves
    /// one forward, its layers in order.
    /// </summary>
    public ILayerCache ForStep(in DenoiseStep step)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (step.Step <= _lastStep)
            throw new InvalidOperationException($"steps must increase: step {step.Step} after step {_lastStep}.");
        _lastStep = step.Step;
        return new StepCache(this, step);
    }

    /// <summary>The hook of one forward: the step it belongs to, as a value, and which layer comes next.</summary>
    private sealed class StepCache(CacheSession session, DenoiseStep step) : ILayerCache
    {
        private readonly DenoiseStep _step = step;
        private readonly SegmentLayout _layout = new(step);
        private int _nextLayer;

        public LayerRows SelectRows(TransformerLayer layer, Tensor hidden, LayerInputs inputs)
        {
            if (layer.Index != _nextLayer)
                throw new InvalidOperationException($"the cache of step {_step.Step} serves one forward, layers in order: got layer {layer.Index}, expected {_nextLayer}.");
            _nextLayer++;
            return session.SelectRows(_step, _layout, layer, hidden, inputs);
        }

        public (Tensor Key, Tensor Value) UpdateKeyValue(TransformerLayer layer, in LayerRows rows, Tensor normalisedInput, Tensor key, Tensor value) =>
            session.UpdateKeyValue(layer.Index, rows, normalisedInput, key, value);

        public Tensor MergeAttention(TransformerLayer layer, in LayerRows rows, Tensor? attention) =>
            session.Merge(session.CacheOf(layer.Index).Attention, rows, attention);

        public Tensor MergeFfn(TransformerLayer layer, in LayerRows rows, Tensor? ffn) =>
            session.Merge(session.CacheOf(layer.Index).Ffn, rows, ffn);
    }

    private LayerRows SelectRows(in DenoiseStep step, in SegmentLayout layout, TransformerLayer layer, Tensor hidden, LayerInputs inputs)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        EnsureShape(inputs.BatchSize, inputs.SequenceLength);
        var l = layer.Index;
        var context = ContextFor(step, l, layout);
        var plan = RefreshWhatWasNeverCached(_policy.Plan(in context), context);
        var cache = _layers[l] ??= new LayerCache(_rows, _columns, _config, hidden.device, hidden.dtype);

        var rows = plan.IsRefreshAll ? LayerRows.All(_columns) : SelectPartial(layer, hidden, inputs, cache, plan, layout);

        foreach (var segment in SegmentLayout.All)
            if (plan[segment].Kind == ActionKind.Refresh)
            {
                var range = layout[segment];
                Array.Fill(_lastRefresh[l], step.Step, range.Start, range.Length);
            }
        Statistics.Add(new LayerStepRecord(step.Step, l, plan, rows.Count, _columns));
        return rows;
    }

    /// <summary>The policy's view of this layer and step, with the refresh counters of each segment.</summary>
    private StepContext ContextFor(in DenoiseStep step, int layer, in SegmentLayout layout) => new()
    {
        Step = step.Step,
        Layer = layer,
        LayerCount = _config.NumLayers,
        BlockIndex = step.BlockIndex,
        BlockCount = step.BlockCount,
        StepInBlock = step.StepInBlock,
        PromptLength = step.PromptLength,
        ResponseLength = step.ResponseLength,
        ActiveBlockStart = step.ActiveBlockStart,
        ActiveBlockLength = step.ActiveBlockLength,
        StepsSincePromptRefresh = StepsSince(step, layer, layout[Segment.Prompt]),
        StepsSinceResponsePrefixRefresh = StepsSince(step, layer, layout[Segment.ResponsePrefix]),
        StepsSinceActiveBlockRefresh = StepsSince(step, layer, layout[Segment.ActiveBlock]),
        StepsSinceResponseSuffixRefresh = StepsSince(step, layer, layout[Segment.ResponseSuffix]),
    };

    /// <summary>Steps since every column of the range was last refreshed; 0 for an empty range.</summary>
    private int StepsSince(in DenoiseStep step, int layer, ColumnRange range)
    {
        if (range.Length == 0) return 0;
        var oldest = int.MaxValue;
        var last = _lastRefresh[layer];
        for (int c = range.Start; c < range.End; c++) oldest = Math.Min(oldest, last[c]);
        return oldest < 0 ? StepContext.NeverRefreshed : step.Step - oldest;
    }

    /// <summary>A segment with nothing cached yet cannot be reused, whatever a (hand-written) policy says.</summary>
    private static LayerPlan RefreshWhatWasNeverCached(LayerPlan plan, in StepContext context)
    {
        foreach (var segment in SegmentLayout.All)
            if (plan[segment].Kind != ActionKind.Refresh && context.StepsSinceRefresh(segment) == StepContext.NeverRefreshed)
                plan = plan.With((Segments)(1 << (int)segment), SegmentAction.Refresh);
        return plan;
    }

    /// <summary>
    /// The rows a partial plan recomputes. Every sequence recomputes the same number of columns (ratio selectors
    /// give the same count per row; threshold selectors take the largest count among the rows), so the work stays
    /// in rectangular [rows, n] tensors. Adjacent segments with the same action are one group (one probe, one
    /// selection across them, as dLLM-Cache selects across the whole response). The rows' normalised inputs are
    /// handed to the layer (a probe computed them already), and so is V when a V probe projected it.
    /// </summary>
    private LayerRows SelectPartial(TransformerLayer layer, Tensor hidden, LayerInputs inputs, LayerCache cache,
        in LayerPlan plan, in SegmentLayout layout)
    {
        long b = _rows;
        int projected = 0;                   // rows per sequence whose K or V this method projects
        var columns = new List<Tensor>(4);   // [B, n_g] column indices per group
        var normed = new List<Tensor>(4);    // [B, n_g, hidden] those rows' normalised inputs
        var values = new List<Tensor?>(4);   // [B, n_g, kv] their fresh V where a V probe already computed it
        foreach (var (range, action) in Groups(plan, layout))
        {
            if (action.Kind == ActionKind.Refresh)
            {
                columns.Add(torch.arange(range.Start, range.End, ScalarType.Int64, hidden.device).unsqueeze(0).expand(b, range.Length));
                normed.Add(layer.NormAttentionInput(hidden.narrow(1, range.Start, range.Length)));
                values.Add(null);
            }
            else if (action.Kind == ActionKind.Adaptive)
            {
                var (chosen, rangeNormed, freshValues) = SelectAdaptive(layer, hidden, inputs, cache, action, range, ref projected);
                if (chosen.shape[1] == 0) continue;
                columns.Add(chosen + range.Start);
                normed.Add(Gather(rangeNormed, chosen));  // the probe already normalised these rows
                values.Add(freshValues is null ? null : Gather(freshValues, chosen));
            }
        }

        var n = columns.Sum(c => (int)c.shape[1]);
        if (n == 0) return LayerRows.None(projected);

        // V from a probe where there is one; where only some groups have it, this projects the others' V, so
        // that the layer gets V for every row or for none (then it projects all of them in one call).
        Tensor? v = null;
        if (values.Any(x => x is not null))
        {
            for (int g = 0; g < values.Count; g++)
            {
                if (values[g] is not null) continue;
                values[g] = layer.ProjectValue(normed[g]);
                projected += (int)normed[g].shape[1];
            }
            v = values.Count == 1 ? values[0] : torch.cat(values.Select(x => x!).ToArray(), 1);
        }
        var cols = columns.Count == 1 ? columns[0] : torch.cat(columns, 1);
        var x = normed.Count == 1 ? normed[0] : torch.cat(normed, 1);
        return LayerRows.Subset(cols, _columns, x, v, projected);
    }

    /// <summary>Writes the computed rows' input, K and V into the caches; returns the K/V of every column.</summary>
    private (Tensor Key, Tensor Value) UpdateKeyValue(int layer, in LayerRows rows, Tensor normalisedInput, Tensor key, Tensor value)
    {
        var cache = CacheOf(layer);
        if (rows.IsAll)
        {
            cache.Input.copy_(normalisedInput.reshape(cache.Input.shape));
            cache.Key.copy_(key.reshape(cache.Key.shape));
            cache.Value.copy_(value.reshape(cache.Value.shape));
            return (key, value);  // the fresh tensors themselves: the uncached forward's exact inputs
        }
        long bn = (long)_rows * rows.Count;
        cache.Input.index_copy_(0, rows.FlatIndex!, normalisedInput.reshape(bn, -1));
        cache.Key.index_copy_(0, rows.FlatIndex!, key.reshape(bn, -1));
        cache.Value.index_copy_(0, rows.FlatIndex!, value.reshape(bn, -1));
        return (cache.Key.view(_rows, _columns, -1), cache.Value.view(_rows, _columns, -1));
    }

    /// <summary>Writes the computed rows of an output into its cache; returns the output for every row.</summary>
    private Tensor Merge(Tensor store, in LayerRows rows, Tensor? computed)
    {
        if (rows.IsAll)
        {
            store.copy_(computed!.reshape(store.shape));
            return computed;
        }
        if (computed is not null) store.index_copy_(0, rows.FlatIndex!, computed.reshape((long)_rows * rows.Count, -1));
        return store.view(_rows, _columns, -1);
    }

    private LayerCache CacheOf(int layer) =>
        _layers[layer] ?? throw new InvalidOperationException($"layer {layer} has no cache: SelectRows must come first.");

    /// <summary>The plan's segments in sequence order, adjacent ones with equal actions merged, empty ones left out.</summary>
    private static List<(ColumnRange Range, SegmentAction Action)> Groups(in LayerPlan plan, in SegmentLayout layout)
    {
        var groups = new List<(ColumnRange, SegmentAction)>(4);
        foreach (var segment in SegmentLayout.All)
        {
            var range = layout[segment];
            if (range.Length == 0) continue;
            var action = plan[segment];
            if (groups.Count > 0 && groups[^1].Item2 == action && groups[^1].Item1.End == range.Start)
                groups[^1] = (new ColumnRange(groups[^1].Item1.Start, range.End), action);
            else
                groups.Add((range, action));
        }
        return groups;
    }

    /// <summary>
    /// V-verify and its K / input variants: a fresh probe for every row of the range, cosine similarity with
    /// the cached probe per row, and the least similar columns chosen per sequence. As in dLLM-Cache, a V (or K)
    /// probe replaces the range's whole V (or K) cache with the fresh values. Returns the chosen columns relative
    /// to the range start <c>[B, n]</c>, the range's normalised inputs <c>[B, length, hidden]</c> and, for a V
    /// probe, its fresh V <c>[B, length, kv]</c> (the chosen rows need no second V projection).
    /// </summary>
    private (Tensor Chosen, Tensor Normed, Tensor? FreshValues) SelectAdaptive(TransformerLayer layer, Tensor hidden, LayerInputs inputs, LayerCache cache,
        SegmentAction action, ColumnRange range, ref int projected)
    {
        long b = _rows, t = _columns;
        var x = layer.NormAttentionInput(hidden.narrow(1, range.Start, range.Length));
        var cached = CachedRows(action.Probe, cache, range);
        Tensor fresh;
        switch (action.Probe)
        {
            case Probe.Value:
                fresh = layer.ProjectValue(x);
                projected += range.Length;
                break;
            case Probe.Key:
                fresh = layer.ApplyRotary(layer.ProjectKey(x),
                    inputs.Cos.expand(b, t, -1).narrow(1, range.Start, range.Length),
                    inputs.Sin.expand(b, t, -1).narrow(1, range.Start, range.Length));
                projected += range.Length;
                break;
            default:
                fresh = x;
                break;
        }

        var similarity = nn.functional.cosine_similarity(fresh, cached, dim: -1);  // [B, n]
        if (action.Probe != Probe.Input) cached.copy_(fresh);                         // refresh the whole probe cache

        int count = action.Selector == Selector.Ratio
            ? (int)Math.Floor(action.Value * range.Length)   // in double, as dLLM-Cache: floor(0.35 * 180) = 62 (63 in float32)
            : (int)similarity.lt(action.Value).sum(1).max().item<long>();
        var freshValues = action.Probe == Probe.Value ? fresh : null;
        if (count == 0) return (torch.empty(b, 0, ScalarType.Int64, hidden.device), x, freshValues);
        // A stable ascending sort instead of topk: among equal similarities the lower position is chosen, on any backend.
        var (_, order) = similarity.sort(dim: 1, descending: false, stable: true);
        return (order.narrow(1, 0, count), x, freshValues);
    }

    private Tensor CachedRows(Probe probe, LayerCache cache, ColumnRange range)
    {
        var source = probe switch { Probe.Value => cache.Value, Probe.Key => cache.Key, _ => cache.Input };
        return source.view(_rows, _columns, -1).narrow(1, range.Start, range.Length);
    }

    /// <summary>Rows of <c>[B, T, F]</c> at per-sequence columns <c>[B, n]</c> → <c>[B, n, F]</c>.</summary>
    private static Tensor Gather(Tensor source, Tensor columns) =>
        source.gather(1, columns.unsqueeze(-1).expand(columns.shape[0], columns.shape[1], source.shape[2]));

    private void EnsureShape(int rows, int columns)
    {
        if (_rows == 0)
        {
            _rows = rows;
            _columns = columns;
            for (int l = 0; l < _lastRefresh.Length; l++) { _lastRefresh[l] = new int[columns]; Array.Fill(_lastRefresh[l], -1); }
            return;
        }
        if (rows != _rows || columns != _columns)
            throw new InvalidOperationException($"a cache session serves one generation: it holds [{_rows}, {_columns}] and was given [{rows}, {columns}].");
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var layer in _layers) layer?.Dispose();
    }

    /// <summary>One layer's caches, flat [rows·columns, features] so that rows can be written with index_copy_.</summary>
    private sealed class LayerCache : IDisposable
    {
        public LayerCache(int rows, int columns, ModelConfig config, Device device, ScalarType dtype)
        {
            long n = (long)rows * columns;
            Input = Allocate(n, config.HiddenSize, dtype, device);
            Key = Allocate(n, config.KvDim, dtype, device);
            Value = Allocate(n, config.KvDim, dtype, device);
            Attention = Allocate(n, config.HiddenSize, dtype, device);
            Ffn = Allocate(n, config.HiddenSize, dtype, device);
        }

        public Tensor Input { get; }
        public Tensor Key { get; }
        public Tensor Value { get; }
        public Tensor Attention { get; }
        public Tensor Ffn { get; }

        public long Bytes => new[] { Input, Key, Value, Attention, Ffn }.Sum(t => t.numel() * t.ElementSize);

        // Allocated inside a forward's dispose scope, so detached from it: the session owns these.
        private static Tensor Allocate(long rows, long features, ScalarType dtype, Device device) =>
            torch.zeros(rows, features, dtype, device).DetachFromDisposeScope();

        public void Dispose()
        {
            Input.Dispose(); Key.Dispose(); Value.Dispose(); Attention.Dispose(); Ffn.Dispose();
        }
    }
}
