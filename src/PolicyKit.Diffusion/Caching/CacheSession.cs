using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Model;
using PolicyKit.Diffusion.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Caching;

/// <summary>
/// Everything one generation caches, and the executor that runs a policy's plan on each layer.
/// Per layer it keeps K and V (after rotary), the attention output (after the output projection, before the
/// residual add), the FFN output (before the residual add) and, for a policy that may compare it
/// (<see cref="ICachePolicy.ComparesInput"/>), the normalised layer input, for every row and column.
/// <see cref="ForStep"/> hands the model the cache hook of one forward: at each layer it asks the policy
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
    private readonly int? _maskTokenId;
    private int _lastStep = -1;
    private int _rows, _columns;
    private bool _disposed;
    /// <summary>Per column, the decode state of this step (the freshest over the batch), or null when no tokens were given.</summary>
    private RowStates[]? _states;
    /// <summary>Per row and column: masked at the previous forward (for <see cref="RowStates.JustDecoded"/>).</summary>
    private bool[]? _maskedBefore;
    /// <summary>Per column, the action the executor resolved for the current layer (reused, to keep the step allocation-light).</summary>
    private SegmentAction[] _actions = [];
    /// <summary>
    /// Per layer, the attention each column received when the layer last measured it (<see cref="Probe.AttentionReceived"/>),
    /// <c>[B, T]</c> float32, and the most-attended column of each sequence <c>[B]</c>; null until the layer first measures.
    /// </summary>
    private readonly Tensor?[] _attention;
    private readonly Tensor?[] _mostAttended;
    /// <summary>Per row and column, the top-1 probability of the last logits computed there (0: none yet); null until a plan ranks by confidence.</summary>
    private float[]? _confidence;
    /// <summary>True once <see cref="ObserveLogits"/> recorded a confidence (the scores exist from then on).</summary>
    private bool _confidenceObserved;

    /// <param name="policy">The policy that plans each layer.</param>
    /// <param name="config">The model's configuration.</param>
    /// <param name="maskTokenId">
    /// The mask token: with it, <see cref="ForStep"/> derives each row's decode state from the tokens it is given,
    /// which plans with <see cref="LayerPlan.Masked"/> or <see cref="LayerPlan.JustDecoded"/> need.
    /// </param>
    public CacheSession(ICachePolicy policy, ModelConfig config, int? maskTokenId = null)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(config);
        _policy = policy;
        _config = config;
        _maskTokenId = maskTokenId;
        _layers = new LayerCache?[config.NumLayers];
        _lastRefresh = new int[config.NumLayers][];
        _attention = new Tensor?[config.NumLayers];
        _mostAttended = new Tensor?[config.NumLayers];
    }

    public ICachePolicy Policy => _policy;

    public CacheStatistics Statistics { get; } = new();

    /// <summary>
    /// Whether layers may defer the residual adds of reused leading columns (<see cref="LayerRows.DeferredColumns"/>);
    /// off only for tests that compare against the eager adds.
    /// </summary>
    internal bool DefersResidualAdds { get; set; } = true;

    /// <summary>Layer forwards so far that deferred the residual adds of some columns.</summary>
    internal int DeferredLayers { get; private set; }

    /// <summary>
    /// Bytes the cache tensors of this session hold now. Each layer's caches are allocated once, at its first
    /// forward, and kept until <see cref="Dispose"/>, so after a generation this is also the peak.
    /// </summary>
    public long CacheBytes => _disposed ? 0 : _layers.Sum(layer => layer?.Bytes ?? 0);

    /// <summary>
    /// True once a plan ranked rows by the previous step's confidence: the denoiser then hands each step's logits to
    /// <see cref="ObserveLogits"/>. No other policy pays for it.
    /// </summary>
    public bool WantsConfidence => _confidence is not null;

    /// <summary>
    /// Records the confidence of the rows whose logits a forward returned (<paramref name="logits"/> <c>[B, n, V]</c> for the
    /// columns from <see cref="DenoiseStep.LogitsStart"/>): the top-1 softmax probability, the sampler's <c>low_confidence</c>
    /// score at temperature 0. The next step's plans read it as <see cref="Probe.Confidence"/>.
    /// </summary>
    public void ObserveLogits(in DenoiseStep step, Tensor logits)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_confidence is null || _columns == 0) return;
        using var scope = torch.NewDisposeScope();
        long b = logits.shape[0], n = logits.shape[1];
        if (b != _rows) throw new ArgumentException($"logits of {b} sequences for a session of {_rows}", nameof(logits));
        var top = logits.to_type(ScalarType.Float32).softmax(-1).amax([-1]).cpu().data<float>().ToArray();  // [B·n]
        for (int r = 0; r < b; r++)
            Array.Copy(top, r * n, _confidence, (long)r * _columns + step.LogitsStart, n);
        _confidenceObserved |= n > 0;
    }

    /// <summary>
    /// The cache hook for the one forward pass of <paramref name="step"/> (pass it to
    /// <see cref="DiffusionModel.Forward"/>). Steps must increase from one forward to the next; the hook serves
    /// one forward, its layers in order. <paramref name="tokens"/> <c>[B, T]</c> (the forward's input ids) give the rows'
    /// decode states when the session knows the mask token; pass them at every step, or decode-state plans fail.
    /// </summary>
    public ILayerCache ForStep(in DenoiseStep step, Tensor? tokens = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (step.Step <= _lastStep)
            throw new InvalidOperationException($"steps must increase: step {step.Step} after step {_lastStep}.");
        _lastStep = step.Step;
        if (tokens is not null && _maskTokenId is { } maskId) UpdateStates(step, tokens, maskId);
        else _states = null;
        return new StepCache(this, step);
    }

    /// <summary>
    /// Each column's decode state at this step. In a batch a column takes the freshest state of its samples
    /// (JustDecoded, then Masked, then Settled), so that a column any sample needs recomputed is recomputed.
    /// </summary>
    private void UpdateStates(in DenoiseStep step, Tensor tokens, int maskId)
    {
        using var scope = torch.NewDisposeScope();
        var b = (int)tokens.shape[0];
        var t = (int)tokens.shape[1];
        var masked = tokens.eq(maskId).cpu().data<bool>().ToArray();
        var states = _states is { Length: var n } && n == t ? _states : new RowStates[t];
        Array.Fill(states, RowStates.None, 0, step.PromptLength);
        for (int c = step.PromptLength; c < t; c++)
        {
            var state = RowStates.Settled;
            for (int r = 0; r < b; r++)
            {
                int i = r * t + c;
                if (masked[i]) { if (state == RowStates.Settled) state = RowStates.Masked; }
                else if (_maskedBefore is { } before && before.Length == masked.Length && before[i]) { state = RowStates.JustDecoded; break; }
            }
            states[c] = state;
        }
        _states = states;
        _maskedBefore = masked;
    }

    /// <summary>The hook of one forward: the step it belongs to, as a value, and which layer comes next.</summary>
    private sealed class StepCache(CacheSession session, DenoiseStep step) : ILayerCache
    {
        private readonly DenoiseStep _step = step;
        private readonly SegmentLayout _layout = new(step);
        private int _nextLayer;
        private LayerProbes _probes;

        public LayerRows SelectRows(TransformerLayer layer, Tensor hidden, LayerInputs inputs)
        {
            if (layer.Index != _nextLayer)
                throw new InvalidOperationException($"the cache of step {_step.Step} serves one forward, layers in order: got layer {layer.Index}, expected {_nextLayer}.");
            _nextLayer++;
            return session.SelectRows(_step, _layout, layer, hidden, inputs, ref _probes);
        }

        public (Tensor Key, Tensor Value) UpdateKeyValue(TransformerLayer layer, in LayerRows rows, Tensor normalisedInput, Tensor query, Tensor key, Tensor value)
        {
            var (keys, values) = session.UpdateKeyValue(layer.Index, rows, normalisedInput, key, value, _probes.KeyCount);
            if (_probes.MeasureAttention) session.MeasureAttention(layer, rows, _layout, query, keys, inputs: _probes.Inputs!);
            return (keys, values);
        }

        public Tensor MergeAttention(TransformerLayer layer, in LayerRows rows, Tensor? attention) =>
            session.Merge(session.CacheOf(layer.Index).Attention, rows, attention);

        public Tensor MergeFfn(TransformerLayer layer, in LayerRows rows, Tensor? ffn) =>
            session.Merge(session.CacheOf(layer.Index).Ffn, rows, ffn);
    }

    /// <summary>What the hook of one forward carries from a layer's row selection to the rest of that layer and to the next layers.</summary>
    private struct LayerProbes
    {
        /// <summary>Columns that are keys at the current layer (every column but a dropped far suffix).</summary>
        public int KeyCount;
        /// <summary>The current layer measures the attention received (its plan asks).</summary>
        public bool MeasureAttention;
        public LayerInputs? Inputs;
        /// <summary>The first layer of this step whose drift test fired (<see cref="StepContext.TriggeredAtLayer"/>).</summary>
        public int? TriggeredAt;
        /// <summary>Columns <c>[0, DeferredEnd)</c> lag: their residual adds from layer <see cref="DeferredFrom"/> on are still to do (0: none lag).</summary>
        public int DeferredEnd;
        public int DeferredFrom;
    }

    private LayerRows SelectRows(in DenoiseStep step, in SegmentLayout layout, TransformerLayer layer, Tensor hidden, LayerInputs inputs, ref LayerProbes probes)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        EnsureShape(inputs.BatchSize, inputs.SequenceLength);
        var l = layer.Index;
        var context = ContextFor(step, l, layout, probes.TriggeredAt);
        var plan = RefreshWhatWasNeverCached(_policy.Plan(in context), context);
        var cache = _layers[l] ??= new LayerCache(_rows, _columns, _config, hidden.device, hidden.dtype, keepInput: _policy.ComparesInput);

        // Lagging columns are caught up before anything may read them: a full refresh, or a drift test (its column may be any).
        if (probes.DeferredEnd > 0 && (plan.IsRefreshAll || plan.Trigger is not null)) CatchUp(hidden, l, ref probes);

        // The drift test reads this layer's cache before the layer overwrites any of it.
        int projected = 0;
        bool fired = plan.Trigger is { } test && probes.TriggeredAt is null && DriftTestFires(layer, hidden, inputs, cache, test, ref projected);
        if (fired) probes.TriggeredAt = l;

        int keyCount = _columns;
        LayerRows rows;
        if (plan.IsRefreshAll)
        {
            rows = LayerRows.All(_columns);
            Array.Fill(_lastRefresh[l], step.Step);
        }
        else
        {
            ResolveColumnActions(plan, layout, l, step.Step);
            while (keyCount > 0 && _actions[keyCount - 1].Kind == ActionKind.Drop) keyCount--;
            int deferrable = DeferrableColumns(step, hidden);
            if (probes.DeferredEnd > 0 && deferrable == 0) CatchUp(hidden, l, ref probes);
            rows = SelectPartial(layer, hidden, inputs, cache, keyCount);
            for (int c = 0; c < keyCount; c++)
                if (_actions[c].Kind == ActionKind.Refresh) _lastRefresh[l][c] = step.Step;
            if (deferrable > 0)
            {
                if (probes.DeferredEnd == 0) (probes.DeferredEnd, probes.DeferredFrom) = (deferrable, l);
                rows = rows with { DeferredColumns = probes.DeferredEnd };
                DeferredLayers++;
            }
        }
        probes.KeyCount = keyCount;
        probes.Inputs = inputs;
        probes.MeasureAttention = plan.MeasuresAttention && rows.Count > 0;
        if (probes.MeasureAttention || projected > 0)
            rows = rows with
            {
                CacheProjectedRows = rows.CacheProjectedRows + projected,
                AttentionProbeQueries = probes.MeasureAttention ? (rows.IsAll ? layout[Segment.ActiveBlock].Length : rows.Count) : 0,
            };
        Statistics.Add(new LayerStepRecord(step.Step, l, plan, rows.Count, _columns) { RowsDropped = _columns - keyCount, TriggerFired = fired });
        return rows;
    }

    /// <summary>
    /// The leading columns whose residual adds this layer may defer (<see cref="LayerRows.DeferredColumns"/>): the prompt
    /// up to the first row the LM head reads, when every one of them is reused at this layer (nothing computed or
    /// probed there); else 0. Inference only.
    /// </summary>
    private int DeferrableColumns(in DenoiseStep step, Tensor hidden)
    {
        if (!DefersResidualAdds || hidden.requires_grad) return 0;
        int end = Math.Min(step.PromptLength, step.LogitsStart - (_config.ShiftedLogits ? 1 : 0));
        for (int c = 0; c < end; c++)
            if (_actions[c].Kind != ActionKind.Reuse) return 0;
        return Math.Max(end, 0);
    }

    /// <summary>
    /// Brings the lagging columns of <paramref name="hidden"/> (the input of layer <paramref name="layer"/>) up to date in
    /// place: the attention and FFN outputs of every layer that deferred them, added in the order the layers would have.
    /// </summary>
    private void CatchUp(Tensor hidden, int layer, ref LayerProbes probes)
    {
        int end = probes.DeferredEnd;
        using (var lagging = hidden.narrow(1, 0, end))
            for (int j = probes.DeferredFrom; j < layer; j++)
            {
                var cache = CacheOf(j);
                using (var attention = cache.Attention.narrow(1, 0, end)) lagging.add_(attention);
                using (var ffn = cache.Ffn.narrow(1, 0, end)) lagging.add_(ffn);
            }
        probes.DeferredEnd = 0;
    }

    /// <summary>
    /// The drift test of <paramref name="test"/> at this layer: the most-attended column of each sequence (from the
    /// layer's last attention measure; no test before the first), its fresh probe against the cached one. Fires when
    /// any sequence's cosine similarity is below the threshold.
    /// </summary>
    private bool DriftTestFires(TransformerLayer layer, Tensor hidden, LayerInputs inputs, LayerCache cache, DriftTest test, ref int projected)
    {
        if (_mostAttended[layer.Index] is not { } column) return false;
        using var scope = torch.NewDisposeScope();
        long b = _rows;
        var at = column.view(b, 1);
        var x = layer.NormAttentionInput(Gather(hidden, at));  // [B, 1, hidden]
        Tensor fresh = test.Probe switch
        {
            Probe.Value => layer.ProjectValue(x),
            Probe.Key => layer.ApplyRotary(layer.ProjectKey(x), Gather(inputs.Cos.expand(b, -1, -1), at), Gather(inputs.Sin.expand(b, -1, -1), at)),
            _ => x,
        };
        if (test.Probe != Probe.Input) projected += 1;
        var source = ProbeCache(test.Probe, cache);
        var cached = Gather(source, at);
        var similarity = nn.functional.cosine_similarity(fresh, cached, dim: -1);  // [B, 1]
        return similarity.min().item<float>() < test.Threshold;
    }

    /// <summary>
    /// The attention-received probe: the softmax weights the computed rows of the active block give each key, averaged
    /// over heads and those queries, kept per sequence with the most-attended column. With every row computed only the
    /// active block's queries are scored (the rows being decoded: bounded cost and memory on full refreshes).
    /// </summary>
    private void MeasureAttention(TransformerLayer layer, in LayerRows rows, in SegmentLayout layout, Tensor query, Tensor keys, LayerInputs inputs)
    {
        using var scope = torch.NewDisposeScope();
        var block = layout[Segment.ActiveBlock];
        long b = _rows, nk = keys.shape[1];
        Tensor q = query, weight;
        if (rows.IsAll)
        {
            if (block.Length == 0) return;
            q = query.narrow(1, block.Start, block.Length);
            weight = torch.ones(b, block.Length, ScalarType.Float32, query.device);
        }
        else
        {
            // [B, n]; null when no query of the active block is computed at this layer: keep the last measure
            if (ActiveBlockQueries(rows, block, query.device) is not { } queries) return;
            weight = queries;
        }
        long nq = q.shape[1];
        var qh = q.view(b, nq, layer.NumHeads, layer.HeadDim).transpose(1, 2);
        var kh = keys.view(b, nk, layer.NumKvHeads, layer.HeadDim).transpose(1, 2);
        if (layer.NumKvHeads != layer.NumHeads) kh = kh.repeat_interleave(layer.NumHeads / layer.NumKvHeads, 1, layer.NumHeads);
        var scores = qh.matmul(kh.transpose(-2, -1)).mul_(1.0 / Math.Sqrt(layer.HeadDim));  // [B, H, nq, nk]
        if (inputs.AttentionMask is { } mask) scores = scores.masked_fill(mask.narrow(-1, 0, nk).logical_not(), double.NegativeInfinity);
        var perQuery = scores.softmax(-1).to_type(ScalarType.Float32).sum(1);              // [B, nq, nk]
        var received = (perQuery * weight.unsqueeze(-1)).sum(1) / (weight.sum(1, keepdim: true).clamp_min(1) * layer.NumHeads);  // [B, nk]

        var l = layer.Index;
        var store = _attention[l] ??= torch.zeros(b, _columns, ScalarType.Float32, query.device).DetachFromDisposeScope();
        var most = _mostAttended[l] ??= torch.zeros(b, ScalarType.Int64, query.device).DetachFromDisposeScope();
        store.zero_();
        store.narrow(1, 0, nk).copy_(received);
        most.copy_(received.argmax(1));
    }

    /// <summary>
    /// Each column's action under the plan (the precedence of <see cref="LayerPlan"/>): the segment's action, then
    /// the region and decode-state overrides; a column with nothing cached at this layer is refreshed unless dropped.
    /// </summary>
    private void ResolveColumnActions(in LayerPlan plan, in SegmentLayout layout, int layer, int step)
    {
        ValidateDrop(plan, layer, step);
        if ((plan.Masked is not null || plan.JustDecoded is not null) && _states is null)
            throw new InvalidOperationException(
                $"the plan of layer {layer} at step {step} overrides decode states ({plan}), but the cache session was not given the step's tokens and mask token (CacheSession(maskTokenId) and ForStep(step, tokens)).");
        if (_actions.Length != _columns) _actions = new SegmentAction[_columns];
        var blockStart = layout[Segment.ActiveBlock].Start;
        var blockEnd = layout[Segment.ActiveBlock].End;
        var last = _lastRefresh[layer];
        foreach (var segment in SegmentLayout.All)
        {
            var range = layout[segment];
            for (int c = range.Start; c < range.End; c++)
            {
                var action = segment == Segment.Prompt
                    ? plan.Prompt
                    : plan.ActionOfResponseRow(segment, c < blockStart ? blockStart - c : c >= blockEnd ? c - blockEnd + 1 : 0, _states?[c] ?? RowStates.Settled);
                if (last[c] < 0 && action.Kind != ActionKind.Refresh && action.Kind != ActionKind.Drop) action = SegmentAction.Refresh;
                _actions[c] = action;
            }
        }
    }

    /// <summary>Drop is sound only for rows whose logits nobody needs: the far suffix, and nowhere else.</summary>
    private static void ValidateDrop(in LayerPlan plan, int layer, int step)
    {
        string? slot =
            plan.Prompt.Kind == ActionKind.Drop ? nameof(LayerPlan.Prompt) :
            plan.ResponsePrefix.Kind == ActionKind.Drop ? nameof(LayerPlan.ResponsePrefix) :
            plan.ActiveBlock.Kind == ActionKind.Drop ? nameof(LayerPlan.ActiveBlock) :
            plan.ResponseSuffix.Kind == ActionKind.Drop ? nameof(LayerPlan.ResponseSuffix) :
            plan.Vicinity is { Kind: ActionKind.Drop } ? nameof(LayerPlan.Vicinity) :
            plan.Masked is { Kind: ActionKind.Drop } ? nameof(LayerPlan.Masked) :
            plan.JustDecoded is { Kind: ActionKind.Drop } ? nameof(LayerPlan.JustDecoded) : null;
        if (slot is not null)
            throw new InvalidOperationException($"the plan of layer {layer} at step {step} drops {slot} ({plan}); only LayerPlan.FarSuffix may be dropped (with Window > 0).");
    }

    /// <summary>The policy's view of this layer and step, with the refresh counters of each segment.</summary>
    private StepContext ContextFor(in DenoiseStep step, int layer, in SegmentLayout layout, int? triggeredAt) => new()
    {
        Step = step.Step,
        TriggeredAtLayer = triggeredAt,
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
    /// selection across them, as dLLM-Cache selects across the whole response). The columns are chosen on the host
    /// (a probe's similarities or a score come over in one copy), so the layer gets one index tensor, or none when
    /// the rows are one contiguous range (the common refresh of a segment). The rows' normalised inputs are handed
    /// to the layer where a probe computed them already, and so is V where a V probe projected it.
    /// </summary>
    private LayerRows SelectPartial(TransformerLayer layer, Tensor hidden, LayerInputs inputs, LayerCache cache, int keyCount)
    {
        int b = _rows;
        int projected = 0;                       // rows per sequence whose K or V this method projects
        var groups = new List<RowGroup>(4);
        foreach (var (range, action) in Groups(keyCount))
        {
            if (action.Kind == ActionKind.Adaptive && !action.Probe.IsSimilarity()) continue;  // ranked across the sequence below
            if (action.Kind == ActionKind.Refresh)
            {
                groups.Add(new RowGroup(RangeColumns(range), range.Length, null, null, range.Start));
            }
            else if (action.Kind == ActionKind.Adaptive)
            {
                var (chosen, n, rangeNormed, freshValues) = SelectAdaptive(layer, hidden, inputs, cache, action, range, ref projected);
                if (n == 0) continue;
                // The probe already normalised these rows (and projected their V): one index tensor picks them out.
                using var index = RowIndex(chosen, b, range.Length, hidden.device);
                var absolute = new long[chosen.Length];
                for (int i = 0; i < chosen.Length; i++) absolute[i] = chosen[i] + range.Start;
                groups.Add(new RowGroup(absolute, n, PickRows(rangeNormed, index, n), freshValues is null ? null : PickRows(freshValues, index, n)));
            }
        }

        foreach (var (members, action) in ScoredGroups(keyCount))
        {
            var (chosen, n) = SelectByScore(layer.Index, members, action);
            if (n > 0) groups.Add(new RowGroup(chosen, n, null, null));
        }

        if (groups.Count == 0) return LayerRows.None(projected);
        if (groups is [{ RangeStart: { } start } only])
            return LayerRows.ContiguousRange(start, only.Count, _columns, cacheProjectedRows: projected);

        // V from a probe where there is one; where only some groups have it, this projects the others' V, so
        // that the layer gets V for every row or for none (then it projects all of them in one call). Normalised
        // inputs likewise: for every row or none.
        bool anyValues = groups.Any(g => g.Values is not null);
        bool anyNormed = anyValues || groups.Any(g => g.Normed is not null);
        for (int g = 0; g < groups.Count; g++)
        {
            var group = groups[g];
            if (anyNormed && group.Normed is null)
                group = group with { Normed = layer.NormAttentionInput(GroupRows(hidden, group)) };
            if (anyValues && group.Values is null)
            {
                group = group with { Values = layer.ProjectValue(group.Normed!) };
                projected += group.Count;
            }
            groups[g] = group;
        }
        var v = anyValues ? Concat(groups.Select(g => g.Values!).ToArray()) : null;
        var x = anyNormed ? Concat(groups.Select(g => g.Normed!).ToArray()) : null;
        return LayerRows.Subset(Interleave(groups, b), b, _columns, hidden.device, x, v, projected);
    }

    /// <summary>One group's chosen rows: columns per sequence (<c>B·Count</c> row-major), their normalised inputs and V where known.</summary>
    private sealed record RowGroup(long[] Columns, int Count, Tensor? Normed, Tensor? Values, int? RangeStart = null);

    private static Tensor Concat(Tensor[] parts) => parts.Length == 1 ? parts[0] : torch.cat(parts, 1);

    /// <summary>The groups' columns, each sequence's in group order (the order <see cref="Concat"/> puts their rows in).</summary>
    private static long[] Interleave(List<RowGroup> groups, int b)
    {
        int n = groups.Sum(g => g.Count);
        var columns = new long[b * n];
        for (int r = 0, at = 0; r < b; r++)
            foreach (var group in groups)
            {
                Array.Copy(group.Columns, r * group.Count, columns, at, group.Count);
                at += group.Count;
            }
        return columns;
    }

    /// <summary>The range's columns for every sequence (<c>B·length</c> row-major).</summary>
    private long[] RangeColumns(ColumnRange range)
    {
        var columns = new long[_rows * range.Length];
        for (int r = 0; r < _rows; r++)
            for (int j = 0; j < range.Length; j++) columns[r * range.Length + j] = range.Start + j;
        return columns;
    }

    /// <summary>A group's rows of <paramref name="source"/> <c>[B, T, F]</c>: a view for a range, else gathered.</summary>
    private Tensor GroupRows(Tensor source, RowGroup group)
    {
        if (group.RangeStart is { } start) return source.narrow(1, start, group.Count);
        using var index = RowIndex(group.Columns, _rows, _columns, source.device);
        return PickRows(source, index, group.Count);
    }

    /// <summary>
    /// The index tensor that picks columns <paramref name="columns"/> (<c>B·n</c> row-major, each below <paramref name="length"/>)
    /// out of <c>[B, length, F]</c> rows with <see cref="PickRows"/>: the columns themselves for one sequence, flat indices for several.
    /// </summary>
    private static Tensor RowIndex(long[] columns, int b, int length, Device device)
    {
        if (b == 1) return torch.tensor(columns, [columns.Length], device: device);
        int n = columns.Length / b;
        var flat = new long[columns.Length];
        for (int r = 0; r < b; r++)
            for (int j = 0; j < n; j++) flat[r * n + j] = (long)r * length + columns[r * n + j];
        return torch.tensor(flat, [flat.Length], device: device);
    }

    /// <summary>Rows of <paramref name="source"/> <c>[B, length, F]</c> at a <see cref="RowIndex"/> → <c>[B, n, F]</c>.</summary>
    private static Tensor PickRows(Tensor source, Tensor index, int n)
    {
        long b = source.shape[0];
        if (b == 1) return source.index_select(1, index);
        using var flat = source.contiguous().view(b * source.shape[1], -1);
        using var picked = flat.index_select(0, index);
        return picked.view(b, n, -1);
    }

    /// <summary>Per computed row, 1 where it is a query of the active block; null when none is (nothing to measure).</summary>
    private Tensor? ActiveBlockQueries(in LayerRows rows, ColumnRange block, Device device)
    {
        int n = rows.Count;
        var weight = new float[_rows * n];
        bool any = false;
        for (int r = 0; r < _rows; r++)
            for (int j = 0; j < n; j++)
            {
                long c = rows.HostColumn(r, j) ?? throw new InvalidOperationException("the executor's rows are chosen on the host");
                if (c >= block.Start && c < block.End) { weight[r * n + j] = 1; any = true; }
            }
        return any ? torch.tensor(weight, [_rows, n], device: device) : null;
    }

    /// <summary>
    /// Writes the computed rows' input, K and V into the caches; returns the K/V of the first <paramref name="keyCount"/>
    /// columns (every column but the dropped far suffix, which always ends the sequence).
    /// </summary>
    private (Tensor Key, Tensor Value) UpdateKeyValue(int layer, in LayerRows rows, Tensor normalisedInput, Tensor key, Tensor value, int keyCount)
    {
        var cache = CacheOf(layer);
        if (cache.Input is { } input) rows.Scatter(input, normalisedInput);
        rows.Scatter(cache.Key, key);
        rows.Scatter(cache.Value, value);
        if (rows.IsAll) return (key, value);  // the fresh tensors themselves: the uncached forward's exact inputs
        return keyCount == _columns ? (cache.Key, cache.Value) : (cache.Key.narrow(1, 0, keyCount), cache.Value.narrow(1, 0, keyCount));
    }

    /// <summary>Writes the computed rows of an output into its cache; returns the output for every row.</summary>
    private Tensor Merge(Tensor store, in LayerRows rows, Tensor? computed)
    {
        if (computed is not null) rows.Scatter(store, computed);
        return rows.IsAll ? computed! : store;
    }

    private LayerCache CacheOf(int layer) =>
        _layers[layer] ?? throw new InvalidOperationException($"layer {layer} has no cache: SelectRows must come first.");

    /// <summary>
    /// The resolved column actions of the first <paramref name="keyCount"/> columns as runs of equal actions, in sequence
    /// order. Without overrides these are the plan's segments, adjacent ones with equal actions merged, empty ones left out.
    /// </summary>
    private List<(ColumnRange Range, SegmentAction Action)> Groups(int keyCount)
    {
        var groups = new List<(ColumnRange, SegmentAction)>(4);
        int start = 0;
        for (int c = 1; c <= keyCount; c++)
        {
            if (c < keyCount && _actions[c] == _actions[start]) continue;
            groups.Add((new ColumnRange(start, c), _actions[start]));
            start = c;
        }
        return groups;
    }

    /// <summary>
    /// The columns (of the first <paramref name="keyCount"/>) whose action ranks by a row score, grouped by action wherever
    /// they lie: d2Cache selects among all masked rows, not within each run of them.
    /// </summary>
    private List<(List<int> Columns, SegmentAction Action)> ScoredGroups(int keyCount)
    {
        var groups = new List<(List<int>, SegmentAction)>();
        for (int c = 0; c < keyCount; c++)
        {
            var action = _actions[c];
            if (action.Kind != ActionKind.Adaptive || action.Probe.IsSimilarity()) continue;
            var group = groups.FindIndex(g => g.Item2 == action);
            if (group < 0) { groups.Add((new List<int>(), action)); group = groups.Count - 1; }
            groups[group].Item1.Add(c);
        }
        return groups;
    }

    /// <summary>
    /// The <c>floor(ratio · m)</c> of the <paramref name="members"/> columns with the highest score, per sequence, as
    /// host columns (<c>B·count</c> row-major; ties to the lower position). A score never measured (no attention probe at
    /// this layer yet, no confidence recorded yet) ranks nothing: every member is recomputed, as a row with nothing cached is.
    /// </summary>
    private (long[] Columns, int Count) SelectByScore(int layer, List<int> members, SegmentAction action)
    {
        int b = _rows, m = members.Count;
        float[]? scores = null;
        if (action.Probe == Probe.AttentionReceived)
        {
            if (_attention[layer] is { } received)
            {
                var all = HostFloats(received);  // [B, T]: one copy per layer
                scores = new float[b * m];
                for (int r = 0; r < b; r++)
                    for (int j = 0; j < m; j++) scores[r * m + j] = all[r * _columns + members[j]];
            }
        }
        else if (_confidence is null)
        {
            _confidence = new float[_rows * _columns];  // from now on the denoiser records each step's confidence
        }
        else if (_confidenceObserved)
        {
            scores = new float[b * m];
            for (int r = 0; r < b; r++)
                for (int j = 0; j < m; j++)
                    scores[r * m + j] = action.Probe == Probe.CertaintyPrior ? CertaintyPrior(r, members[j]) : _confidence[r * _columns + members[j]];
        }
        var count = scores is null ? m : (int)Math.Floor(action.Value * m);
        var columns = new long[b * count];
        for (int r = 0; r < b; r++)
        {
            var order = scores is null ? Enumerable.Range(0, m).ToArray() : RankRow(scores, r * m, m, descending: true);
            for (int i = 0; i < count; i++) columns[r * count + i] = members[order[i]];
        }
        return (columns, count);
    }

    /// <summary>
    /// Positions <c>0..length-1</c> of one row of <paramref name="values"/> (from <paramref name="offset"/>) sorted by value,
    /// ties to the lower position: a stable sort, the same choice on any backend.
    /// </summary>
    private static int[] RankRow(float[] values, int offset, int length, bool descending)
    {
        var order = Enumerable.Range(0, length).ToArray();
        Array.Sort(order, (x, y) =>
        {
            int byValue = values[offset + x].CompareTo(values[offset + y]);
            return byValue != 0 ? (descending ? -byValue : byValue) : x.CompareTo(y);
        });
        return order;
    }

    /// <summary>A small float32 tensor's values on the host (one device→host copy off the CPU).</summary>
    private static float[] HostFloats(Tensor t)
    {
        if (t.device_type == DeviceType.CPU && t.is_contiguous()) return t.data<float>().ToArray();
        using var host = t.cpu().contiguous();
        return host.data<float>().ToArray();
    }

    /// <summary>d2Cache's certainty prior of one row: its last confidence times the share of decoded positions among its neighbours.</summary>
    private float CertaintyPrior(int row, int column)
    {
        const int w = ProbeExtensions.CertaintyNeighbourhood;
        int known = 0, near = 0;
        for (int c = Math.Max(0, column - w); c <= Math.Min(_columns - 1, column + w); c++)
        {
            if (c == column) continue;
            near++;
            if (_maskedBefore is { } masked && !masked[row * _columns + c]) known++;
        }
        return near == 0 ? 0 : _confidence![row * _columns + column] * known / near;
    }

    /// <summary>
    /// V-verify and its K / input variants: a fresh probe for every row of the range, cosine similarity with
    /// the cached probe per row, and the least similar columns chosen per sequence. As in dLLM-Cache, a V (or K)
    /// probe replaces the range's whole V (or K) cache with the fresh values. Returns the chosen columns relative
    /// to the range start (<c>B·n</c> row-major, on the host: the similarities come over in one copy), n, the range's
    /// normalised inputs <c>[B, length, hidden]</c> and, for a V probe, its fresh V <c>[B, length, kv]</c> (the chosen
    /// rows need no second V projection).
    /// </summary>
    private (long[] Chosen, int Count, Tensor Normed, Tensor? FreshValues) SelectAdaptive(TransformerLayer layer, Tensor hidden, LayerInputs inputs,
        LayerCache cache, SegmentAction action, ColumnRange range, ref int projected)
    {
        int b = _rows;
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
                    inputs.Cos.expand(b, _columns, -1).narrow(1, range.Start, range.Length),
                    inputs.Sin.expand(b, _columns, -1).narrow(1, range.Start, range.Length));
                projected += range.Length;
                break;
            default:
                fresh = x;
                break;
        }

        var similarity = HostFloats(nn.functional.cosine_similarity(fresh, cached, dim: -1));  // [B, length]
        if (action.Probe != Probe.Input) cached.copy_(fresh);                                   // refresh the whole probe cache

        int length = range.Length;
        int count;
        if (action.Selector == Selector.Ratio)
        {
            count = (int)Math.Floor(action.Value * length);  // in double, as dLLM-Cache: floor(0.35 * 180) = 62 (63 in float32)
        }
        else
        {
            var threshold = (float)action.Value;  // compared in float32, as the tensor comparison did
            count = 0;
            for (int r = 0; r < b; r++) count = Math.Max(count, similarity.Skip(r * length).Take(length).Count(v => v < threshold));
        }
        var freshValues = action.Probe == Probe.Value ? fresh : null;
        var chosen = new long[b * count];
        for (int r = 0; r < b && count > 0; r++)
        {
            // Ascending, ties to the lower position: the least similar first, on any backend.
            var order = RankRow(similarity, r * length, length, descending: false);
            for (int i = 0; i < count; i++) chosen[r * count + i] = order[i];
        }
        return (chosen, count, x, freshValues);
    }

    private Tensor CachedRows(Probe probe, LayerCache cache, ColumnRange range) => ProbeCache(probe, cache).narrow(1, range.Start, range.Length);

    /// <summary>The cache a similarity probe compares with: V, K, or the normalised input (kept only for a policy that compares it).</summary>
    private Tensor ProbeCache(Probe probe, LayerCache cache) => probe switch
    {
        Probe.Value => cache.Value,
        Probe.Key => cache.Key,
        _ => cache.Input ?? throw new InvalidOperationException(
            $"policy '{_policy.Name}' asked for an Input probe, but its {nameof(ICachePolicy.ComparesInput)} is false, so no input cache is kept."),
    };

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
        foreach (var tensor in _attention.Concat(_mostAttended)) tensor?.Dispose();
    }

    /// <summary>
    /// One layer's caches, <c>[rows, columns, features]</c>: the layer reads them as they are, rows are written through
    /// <see cref="LayerRows.Scatter"/>. The normalised input only for a policy that may compare it (<see cref="ICachePolicy.ComparesInput"/>).
    /// </summary>
    private sealed class LayerCache : IDisposable
    {
        public LayerCache(int rows, int columns, ModelConfig config, Device device, ScalarType dtype, bool keepInput)
        {
            Input = keepInput ? Allocate(rows, columns, config.HiddenSize, dtype, device) : null;
            Key = Allocate(rows, columns, config.KvDim, dtype, device);
            Value = Allocate(rows, columns, config.KvDim, dtype, device);
            Attention = Allocate(rows, columns, config.HiddenSize, dtype, device);
            Ffn = Allocate(rows, columns, config.HiddenSize, dtype, device);
        }

        public Tensor? Input { get; }
        public Tensor Key { get; }
        public Tensor Value { get; }
        public Tensor Attention { get; }
        public Tensor Ffn { get; }

        public long Bytes => new[] { Input, Key, Value, Attention, Ffn }.Sum(t => t is null ? 0 : t.numel() * t.ElementSize);

        // Allocated inside a forward's dispose scope, so detached from it: the session owns these.
        private static Tensor Allocate(long rows, long columns, long features, ScalarType dtype, Device device) =>
            torch.zeros(rows, columns, features, dtype, device).DetachFromDisposeScope();

        public void Dispose()
        {
            Input?.Dispose(); Key.Dispose(); Value.Dispose(); Attention.Dispose(); Ffn.Dispose();
        }
    }
}
