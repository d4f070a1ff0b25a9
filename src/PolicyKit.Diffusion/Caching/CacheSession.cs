using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Flops;
using PolicyKit.Diffusion.Model;
using PolicyKit.Diffusion.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Caching;

/// <summary>
/// Everything one generation caches, and the executor that runs a policy's plan on each layer.
/// Per layer it keeps K and V (after rotary), the attention output (after the output projection, before the
/// residual add), the FFN output (before the residual add) and the normalised layer input, for every row and
/// column. At each layer it asks the policy for a <see cref="LayerPlan"/>, recomputes the rows the plan
/// selects (their queries attend to all keys: fresh where recomputed, cached elsewhere), writes them into the
/// caches in place, and rebuilds the residual stream for every row as <c>h + Attn</c>, <c>+ FFN</c>
/// (dLLM-Cache, ../shared/REFERENCE.md §2).
/// </summary>
/// <remarks>
/// One session per generation: no state is shared between sessions, so concurrent generations over one model
/// are independent. The cache tensors live outside every dispose scope and are freed by <see cref="Dispose"/>.
/// </remarks>
public sealed class CacheSession : ILayerRunner, IDisposable
{
    private readonly ICachePolicy _policy;
    private readonly ModelConfig _config;
    private readonly FlopCounter _flops;
    private readonly LayerCache?[] _layers;
    /// <summary>Per layer and column: the step at which that column was last recomputed as part of a refreshed segment (-1: never).</summary>
    private readonly int[][] _lastRefresh;
    private DenoiseStep _step;
    private bool _stepStarted;
    private int _rows, _columns;
    private bool _disposed;

    public CacheSession(ICachePolicy policy, ModelConfig config)
    {
        _policy = policy;
        _config = config;
        _flops = Generation.ModelDenoiser.FlopCounterFor(config);
        _layers = new LayerCache?[config.NumLayers];
        _lastRefresh = new int[config.NumLayers][];
    }

    public ICachePolicy Policy => _policy;

    public CacheStatistics Statistics { get; } = new();

    /// <summary>Tells the session which step the next forward pass belongs to (the engine's clock).</summary>
    public void BeginStep(in DenoiseStep step)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_stepStarted && step.Step <= _step.Step)
            throw new InvalidOperationException($"steps must increase: step {step.Step} after step {_step.Step}.");
        _step = step;
        _stepStarted = true;
    }

    public Tensor RunLayer(int layerIndex, TransformerLayer layer, Tensor hidden, LayerInputs inputs)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_stepStarted) throw new InvalidOperationException("BeginStep must be called before the forward pass.");
        EnsureShape(inputs.BatchSize, inputs.SequenceLength);

        var layout = new SegmentLayout(_step);
        var context = ContextFor(layerIndex, layout);
        var plan = _policy.Plan(in context);
        plan = RefreshWhatWasNeverCached(plan, context);

        var cache = _layers[layerIndex] ??= new LayerCache(_rows, _columns, _config, hidden.device, hidden.dtype);
        Tensor output;
        int recomputed;
        if (plan.IsRefreshAll)
        {
            output = RunFull(layer, hidden, inputs, cache);
            recomputed = _columns;
        }
        else
        {
            output = RunPartial(layer, hidden, inputs, cache, plan, layout, out recomputed);
        }

        foreach (var segment in SegmentLayout.All)
            if (plan[segment].Kind == ActionKind.Refresh)
            {
                var range = layout[segment];
                Array.Fill(_lastRefresh[layerIndex], _step.Step, range.Start, range.Length);
            }
        Statistics.Add(new LayerStepRecord(_step.Step, layerIndex, plan, recomputed, _columns));
        return output;
    }

    /// <summary>The policy's view of this layer and step, with the refresh counters of each segment.</summary>
    private StepContext ContextFor(int layer, in SegmentLayout layout) => new()
    {
        Step = _step.Step,
        Layer = layer,
        LayerCount = _config.NumLayers,
        BlockIndex = _step.BlockIndex,
        BlockCount = _step.BlockCount,
        StepInBlock = _step.StepInBlock,
        PromptLength = _step.PromptLength,
        ResponseLength = _step.ResponseLength,
        ActiveBlockStart = _step.ActiveBlockStart,
        ActiveBlockLength = _step.ActiveBlockLength,
        StepsSincePromptRefresh = StepsSince(layer, layout[Segment.Prompt]),
        StepsSinceResponsePrefixRefresh = StepsSince(layer, layout[Segment.ResponsePrefix]),
        StepsSinceActiveBlockRefresh = StepsSince(layer, layout[Segment.ActiveBlock]),
        StepsSinceResponseSuffixRefresh = StepsSince(layer, layout[Segment.ResponseSuffix]),
    };

    /// <summary>Steps since every column of the range was last refreshed; 0 for an empty range.</summary>
    private int StepsSince(int layer, ColumnRange range)
    {
        if (range.Length == 0) return 0;
        var oldest = int.MaxValue;
        var last = _lastRefresh[layer];
        for (int c = range.Start; c < range.End; c++) oldest = Math.Min(oldest, last[c]);
        return oldest < 0 ? StepContext.NeverRefreshed : _step.Step - oldest;
    }

    /// <summary>A segment with nothing cached yet cannot be reused, whatever a (hand-written) policy says.</summary>
    private static LayerPlan RefreshWhatWasNeverCached(LayerPlan plan, in StepContext context)
    {
        foreach (var segment in SegmentLayout.All)
            if (plan[segment].Kind != ActionKind.Refresh && context.StepsSinceRefresh(segment) == StepContext.NeverRefreshed)
                plan = plan.With((Segments)(1 << (int)segment), SegmentAction.Refresh);
        return plan;
    }

    /// <summary>Every row recomputed: the same operations as <see cref="TransformerLayer.Forward"/>, with every cache overwritten.</summary>
    private Tensor RunFull(TransformerLayer layer, Tensor hidden, LayerInputs inputs, LayerCache cache)
    {
        var x = layer.NormAttentionInput(hidden);
        var q = layer.ApplyRotary(layer.ProjectQuery(x), inputs.Cos, inputs.Sin);
        var k = layer.ApplyRotary(layer.ProjectKey(x), inputs.Cos, inputs.Sin);
        var v = layer.ProjectValue(x);
        var attention = layer.ProjectAttentionOutput(layer.Attend(q, k, v, inputs.AttentionMask));
        var mid = hidden + attention;
        var ffn = layer.Mlp(layer.NormFfnInput(mid));

        cache.Input.copy_(x.view(cache.Input.shape));
        cache.Key.copy_(k.view(cache.Key.shape));
        cache.Value.copy_(v.view(cache.Value.shape));
        cache.Attention.copy_(attention.view(cache.Attention.shape));
        cache.Ffn.copy_(ffn.view(cache.Ffn.shape));

        var full = _flops.FullLayer(_rows, _columns);
        Statistics.LayerFlops += new FlopCount(full, full);
        return mid + ffn;
    }

    /// <summary>
    /// Recomputes the rows the plan selects and reuses the rest. Every sequence recomputes the same number of
    /// columns (ratio selectors give the same count per row; threshold selectors take the largest count among
    /// the rows), so the work stays in rectangular [rows, n] tensors. Adjacent segments with the same action are
    /// one group (one probe, one selection across them, as dLLM-Cache selects across the whole response).
    /// </summary>
    private Tensor RunPartial(TransformerLayer layer, Tensor hidden, LayerInputs inputs, LayerCache cache,
        in LayerPlan plan, in SegmentLayout layout, out int recomputed)
    {
        long b = _rows, t = _columns;
        double executed = 0;
        var columns = new List<Tensor>(4);  // [B, n_g] column indices per group
        var normed = new List<Tensor>(4);   // [B, n_g, hidden] those rows' normalised inputs
        var values = new List<Tensor>(4);   // [B, n_g, kv] their fresh V (a V probe already computed it)
        foreach (var (range, action) in Groups(plan, layout))
        {
            if (action.Kind == ActionKind.Refresh)
            {
                columns.Add(torch.arange(range.Start, range.End, ScalarType.Int64, hidden.device).unsqueeze(0).expand(b, range.Length));
                normed.Add(layer.NormAttentionInput(hidden.narrow(1, range.Start, range.Length)));
                values.Add(layer.ProjectValue(normed[^1]));
                executed += _flops.KeyOrValueProjection(b * range.Length);
            }
            else if (action.Kind == ActionKind.Adaptive)
            {
                var (chosen, rangeNormed, freshValues) = SelectAdaptive(layer, hidden, inputs, cache, action, range, ref executed);
                if (chosen.shape[1] == 0) continue;
                columns.Add(chosen + range.Start);
                normed.Add(Gather(rangeNormed, chosen));  // the probe already normalised these rows
                if (freshValues is not null)
                {
                    values.Add(Gather(freshValues, chosen));
                }
                else
                {
                    values.Add(layer.ProjectValue(normed[^1]));
                    executed += _flops.KeyOrValueProjection(b * chosen.shape[1]);
                }
            }
        }

        var n = columns.Sum(c => (int)c.shape[1]);
        recomputed = n;
        if (n == 0)
        {
            Statistics.LayerFlops += new FlopCount(executed, _flops.FullLayer(b, t));
            return ResidualFromCache(hidden, cache);
        }
        var cols = columns.Count == 1 ? columns[0] : torch.cat(columns, 1);
        var x = normed.Count == 1 ? normed[0] : torch.cat(normed, 1);
        var v = values.Count == 1 ? values[0] : torch.cat(values, 1);

        // Flat row index into the [B*T, features] caches, and the chosen rows' rotary phases.
        var flat = (torch.arange(b, ScalarType.Int64, hidden.device).unsqueeze(1) * t + cols).view(-1);
        var cos = Gather(inputs.Cos.expand(b, t, -1), cols);
        var sin = Gather(inputs.Sin.expand(b, t, -1), cols);

        // q and k rotate with the same phases: one rotary call for both.
        var q = layer.ProjectQuery(x);
        var qk = layer.ApplyRotary(torch.cat([q, layer.ProjectKey(x)], -1), cos, sin);
        var k = qk.narrow(-1, q.shape[2], _config.KvDim);
        q = qk.narrow(-1, 0, q.shape[2]);
        cache.Input.index_copy_(0, flat, x.reshape(b * n, -1));
        cache.Key.index_copy_(0, flat, k.reshape(b * n, -1));
        cache.Value.index_copy_(0, flat, v.reshape(b * n, -1));

        // Chosen queries attend to every key: fresh ones just written, cached ones elsewhere.
        var attention = layer.ProjectAttentionOutput(
            layer.Attend(q, cache.Key.view(b, t, -1), cache.Value.view(b, t, -1), inputs.AttentionMask));
        cache.Attention.index_copy_(0, flat, attention.reshape(b * n, -1));

        var mid = hidden.reshape(b * t, -1).index_select(0, flat).view(b, n, -1) + attention;
        var ffn = layer.Mlp(layer.NormFfnInput(mid));
        cache.Ffn.index_copy_(0, flat, ffn.reshape(b * n, -1));

        executed += _flops.QueryProjection(b * n) + _flops.KeyOrValueProjection(b * n) + b * _flops.Attention(n, t)
                    + _flops.OutputProjection(b * n) + _flops.Mlp(b * n);
        Statistics.LayerFlops += new FlopCount(executed, _flops.FullLayer(b, t));
        return ResidualFromCache(hidden, cache);
    }

    /// <summary><c>h + Attn + FFN</c> for every row, with one [B, T, hidden] allocation instead of two (same sums, same order).</summary>
    private Tensor ResidualFromCache(Tensor hidden, LayerCache cache)
    {
        var output = hidden + cache.Attention.view(_rows, _columns, -1);
        return output.add_(cache.Ffn.view(_rows, _columns, -1));
    }

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
        SegmentAction action, ColumnRange range, ref double executed)
    {
        long b = _rows, t = _columns;
        var x = layer.NormAttentionInput(hidden.narrow(1, range.Start, range.Length));
        var cached = CachedRows(action.Probe, cache, range);
        Tensor fresh;
        switch (action.Probe)
        {
            case Probe.Value:
                fresh = layer.ProjectValue(x);
                executed += _flops.KeyOrValueProjection(b * range.Length);
                break;
            case Probe.Key:
                fresh = layer.ApplyRotary(layer.ProjectKey(x),
                    inputs.Cos.expand(b, t, -1).narrow(1, range.Start, range.Length),
                    inputs.Sin.expand(b, t, -1).narrow(1, range.Start, range.Length));
                executed += _flops.KeyOrValueProjection(b * range.Length);
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

        // Allocated inside a forward's dispose scope, so detached from it: the session owns these.
        private static Tensor Allocate(long rows, long features, ScalarType dtype, Device device) =>
            torch.zeros(rows, features, dtype, device).DetachFromDisposeScope();

        public void Dispose()
        {
            Input.Dispose(); Key.Dispose(); Value.Dispose(); Attention.Dispose(); Ffn.Dispose();
        }
    }
}
