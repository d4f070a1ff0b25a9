using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Flops;
using TorchSharp;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Model;

/// <summary>
/// One pre-norm transformer block with bidirectional attention:
/// <c>h = h + o_proj(attn(rope(q), rope(k), v))</c>, <c>h = h + down(silu(gate(x)) * up(x))</c>.
/// <see cref="Forward"/> composes the stages, on every row or on the rows an <see cref="ILayerCache"/> chooses; the
/// stages are public so a cache can run probes (e.g. a fresh V) with the layer's own weights.
/// All projections keep tokens as rows: <c>[B, n, features]</c>.
/// </summary>
public sealed class TransformerLayer : nn.Module
{
    public readonly RmsNorm attn_norm;
    public readonly Projection q_proj;
    public readonly Projection k_proj;
    public readonly Projection v_proj;
    public readonly Projection o_proj;
    public readonly RmsNorm ffn_norm;
    public readonly Projection gate_proj;
    public readonly Projection up_proj;
    public readonly Projection down_proj;

    public TransformerLayer(int index, ModelConfig config, ScalarType dtype, Device device) : base($"layer{index}")
    {
        Index = index;
        NumHeads = config.NumHeads;
        NumKvHeads = config.NumKvHeads;
        HeadDim = config.HeadDim;
        long h = config.HiddenSize, q = (long)config.NumHeads * config.HeadDim, kv = config.KvDim, i = config.IntermediateSize;
        _queryWidth = q;
        _keyValueWidth = kv;
        _intermediate = i;
        // The fused weights own the storage; each projection's parameters are a row range of it (narrow along dim 0
        // of a contiguous matrix is itself contiguous), so loading, training and saving see the separate parameters
        // and the fused matmuls read the same memory: they cannot go stale.
        _fused = new FusedWeights(
            torch.empty([q + 2 * kv, h], dtype, device).DetachFromDisposeScope(),
            config.QkvBias ? torch.empty([q + 2 * kv], dtype, device).DetachFromDisposeScope() : null,
            torch.empty([2 * i, h], dtype, device).DetachFromDisposeScope(),
            q + kv);
        var (qkvWeight, qkvBias, gateUpWeight) = (_fused.Qkv, _fused.QkvBias, _fused.GateUp);
        attn_norm = new RmsNorm(nameof(attn_norm), h, config.RmsNormEps, dtype, device);
        q_proj = new Projection(nameof(q_proj), Rows(qkvWeight, 0, q), qkvBias is null ? null : Rows(qkvBias, 0, q));
        k_proj = new Projection(nameof(k_proj), Rows(qkvWeight, q, kv), qkvBias is null ? null : Rows(qkvBias, q, kv));
        v_proj = new Projection(nameof(v_proj), Rows(qkvWeight, q + kv, kv), qkvBias is null ? null : Rows(qkvBias, q + kv, kv));
        o_proj = new Projection(nameof(o_proj), q, h, false, dtype, device);
        ffn_norm = new RmsNorm(nameof(ffn_norm), h, config.RmsNormEps, dtype, device);
        gate_proj = new Projection(nameof(gate_proj), Rows(gateUpWeight, 0, i), null);
        up_proj = new Projection(nameof(up_proj), Rows(gateUpWeight, i, i), null);
        down_proj = new Projection(nameof(down_proj), i, h, false, dtype, device);
        // Not parameters (checkpoints and the optimizer see the projections'), and non-persistent buffers: never in
        // a state dict. Dispose frees them.
        register_buffer("qkv_fused_weight", _fused.Qkv, persistent: false);
        if (_fused.QkvBias is not null) register_buffer("qkv_fused_bias", _fused.QkvBias, persistent: false);
        register_buffer("gate_up_fused_weight", _fused.GateUp, persistent: false);
        RegisterComponents();
    }

    private static Tensor Rows(Tensor fused, long start, long length) => fused.narrow(0, start, length).DetachFromDisposeScope();

    private readonly long _queryWidth, _keyValueWidth, _intermediate;
    private readonly FusedWeights _fused;

    /// <summary>The fused q/k/v weight (for tests: its row ranges are the projections' parameters).</summary>
    internal Tensor FusedQkvWeight => _fused.Qkv;

    /// <summary>The fused gate/up weight.</summary>
    internal Tensor FusedGateUpWeight => _fused.GateUp;

    /// <summary>
    /// q, k and v weights as one <c>[q + 2kv, hidden]</c> matrix (and bias), gate and up as one <c>[2·intermediate, hidden]</c>
    /// matrix: one matmul each in inference. <c>QkWeight</c> is the q and k rows (a view), for rows whose V the
    /// cache already projected. Kept out of the module's own fields, which RegisterComponents would register.
    /// </summary>
    private sealed class FusedWeights(Tensor qkv, Tensor? qkvBias, Tensor gateUp, long queryKeyWidth)
    {
        public Tensor Qkv { get; } = qkv;
        public Tensor? QkvBias { get; } = qkvBias;
        public Tensor GateUp { get; } = gateUp;
        public Tensor QkWeight { get; } = qkv.narrow(0, 0, queryKeyWidth).DetachFromDisposeScope();
        public Tensor? QkBias { get; } = qkvBias?.narrow(0, 0, queryKeyWidth).DetachFromDisposeScope();
    }

    /// <summary>
    /// True when the forward may use the fused weights: without autograd (inference), as gradients must reach the
    /// separate parameters (the fused tensors are not parameters). Same values either way, up to float rounding.
    /// </summary>
    private static bool Fused => !torch.is_grad_enabled();

    public int Index { get; }
    public int NumHeads { get; }
    public int NumKvHeads { get; }
    public int HeadDim { get; }

    public Tensor NormAttentionInput(Tensor hidden) => attn_norm.forward(hidden);

    /// <summary><c>[B, n, hidden]</c> → <c>[B, n, heads·headDim]</c>.</summary>
    public Tensor ProjectQuery(Tensor x) => q_proj.forward(x);

    /// <summary><c>[B, n, hidden]</c> → <c>[B, n, kvHeads·headDim]</c>.</summary>
    public Tensor ProjectKey(Tensor x) => k_proj.forward(x);

    /// <summary><c>[B, n, hidden]</c> → <c>[B, n, kvHeads·headDim]</c>.</summary>
    public Tensor ProjectValue(Tensor x) => v_proj.forward(x);

    /// <summary>Rotates q or k rows; <paramref name="cos"/>/<paramref name="sin"/> are those rows' <c>[B or 1, n, headDim]</c>.</summary>
    public Tensor ApplyRotary(Tensor x, Tensor cos, Tensor sin) => Rotary.Apply(x, cos, sin, HeadDim);

    /// <summary>
    /// Attention of <c>nq</c> query rows over <c>nk</c> key/value rows (nq may be smaller than nk):
    /// q <c>[B, nq, heads·headDim]</c>, k/v <c>[B, nk, kvHeads·headDim]</c>, mask bool (true = attend) broadcastable to
    /// <c>[B, heads, nq, nk]</c> (<see cref="LayerInputs.AttentionMask"/>) or null for bidirectional attention over every key.
    /// Returns <c>[B, nq, heads·headDim]</c>. Scale 1/sqrt(headDim); K/V heads repeated for GQA.
    /// </summary>
    public Tensor Attend(Tensor q, Tensor k, Tensor v, Tensor? mask)
    {
        using var scope = torch.NewDisposeScope();
        var b = q.shape[0];
        var nq = q.shape[1];
        var nk = k.shape[1];
        var groups = NumHeads / NumKvHeads;
        var kh = k.view(b, nk, NumKvHeads, HeadDim).transpose(1, 2);
        var vh = v.view(b, nk, NumKvHeads, HeadDim).transpose(1, 2);
        if (groups > 1 && (mask is null || mask.shape[^2] == 1))
        {
            // GQA without a copy of K and V per query head: the heads that share a K/V head (h = j·groups + g) stack
            // their queries into one block [B, kvHeads, groups·nq, headDim]. Each query attends on its own, so this is
            // the same attention; a mask over keys only broadcasts over the stacked queries.
            var stacked = q.view(b, nq, NumKvHeads, groups, HeadDim).permute(0, 2, 3, 1, 4).reshape(b, NumKvHeads, groups * nq, HeadDim);
            var og = nn.functional.scaled_dot_product_attention(stacked, kh, vh, mask, 0.0, false);
            return og.view(b, NumKvHeads, groups, nq, HeadDim).permute(0, 3, 1, 2, 4).reshape(b, nq, (long)NumHeads * HeadDim).MoveToOuterDisposeScope();
        }
        var qh = q.view(b, nq, NumHeads, HeadDim).transpose(1, 2);
        if (groups > 1)
        {
            kh = kh.repeat_interleave(groups, 1, NumHeads);
            vh = vh.repeat_interleave(groups, 1, NumHeads);
        }
        var o = nn.functional.scaled_dot_product_attention(qh, kh, vh, mask, 0.0, false);
        return o.transpose(1, 2).reshape(b, nq, (long)NumHeads * HeadDim).MoveToOuterDisposeScope();
    }

    /// <summary>The attention output projection, before the residual add (what dLLM-Cache caches as AttnOut).</summary>
    public Tensor ProjectAttentionOutput(Tensor attention) => o_proj.forward(attention);

    public Tensor NormFfnInput(Tensor hidden) => ffn_norm.forward(hidden);

    /// <summary>SwiGLU MLP <c>down(silu(gate(x)) * up(x))</c>, before the residual add (dLLM-Cache's FFNOut).</summary>
    public Tensor Mlp(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        Tensor gated;
        if (Fused)
        {
            var gateUp = nn.functional.linear(x, _fused.GateUp);  // [B, n, 2·intermediate]: one matmul
            gated = nn.functional.silu(gateUp.narrow(-1, 0, _intermediate)).mul_(gateUp.narrow(-1, _intermediate, _intermediate));
        }
        else
        {
            gated = nn.functional.silu(gate_proj.forward(x)) * up_proj.forward(x);
        }
        return down_proj.forward(gated).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The layer: the one place that composes <c>h + attn</c> and <c>+ ffn</c>, for the plain forward, training and
    /// every cache policy. <paramref name="cache"/> (null = every row computed, nothing kept) chooses the rows to
    /// compute, supplies K/V for the rest and fills the rows not computed from its cached outputs; the
    /// executed work is added to <paramref name="flops"/>. <paramref name="hidden"/> <c>[B, T, hidden]</c> is the caller's;
    /// the returned <c>[B, T, hidden]</c> is new.
    /// </summary>
    public Tensor Forward(Tensor hidden, LayerInputs inputs, ILayerCache? cache = null, FlopTally? flops = null)
    {
        using var scope = torch.NewDisposeScope();
        var rows = cache?.SelectRows(this, hidden, inputs) ?? LayerRows.All(inputs.SequenceLength);
        if (inputs.Causal && !rows.IsAll)
            throw new InvalidOperationException($"layer {Index}: causal attention computes every row, but the cache hook selected {rows.Count} of {inputs.SequenceLength}.");

        Tensor? attention = null;
        long keyLength = inputs.SequenceLength;
        if (rows.Count > 0)
        {
            var x = rows.NormalisedInput ?? NormAttentionInput(rows.Gather(hidden));
            var (q, k, v) = ProjectRotated(x, rows, inputs);
            var (keys, values) = cache?.UpdateKeyValue(this, rows, x, q, k, v) ?? (k, v);
            // A cache that drops the far suffix returns the keys before it only; the padding mask follows.
            keyLength = keys.shape[1];
            var mask = keyLength < inputs.SequenceLength ? inputs.AttentionMask?.narrow(-1, 0, keyLength) : inputs.AttentionMask;
            attention = ProjectAttentionOutput(Attend(q, keys, values, mask));
        }
        if (cache is not null) attention = cache.MergeAttention(this, rows, attention);
        // Deferred columns (a cache's choice, inference only): the residual adds in place, over the other columns.
        var deferred = rows.DeferredColumns;
        if (deferred > 0 && (rows.IsAll || hidden.requires_grad))
            throw new InvalidOperationException($"layer {Index}: a cache may defer the residual adds of reused columns in inference only, not of computed rows.");
        var mid = deferred > 0 ? AddToColumnsFrom(hidden, attention!, deferred) : hidden + attention!;

        Tensor? ffn = rows.Count > 0 ? Mlp(NormFfnInput(rows.Gather(mid))) : null;
        if (cache is not null) ffn = cache.MergeFfn(this, rows, ffn);
        flops?.AddLayer(inputs.BatchSize, inputs.SequenceLength, rows.Count,
            valueRows: rows.Count > 0 && rows.Value is null ? rows.Count : 0, cacheProjectedRows: rows.CacheProjectedRows, keyLength: keyLength,
            attentionProbeQueries: rows.Count > 0 ? rows.AttentionProbeQueries : 0);

        // In place unless autograd needs mid for the backward pass: one [B, T, hidden] allocation fewer per layer.
        // With deferred columns mid is the caller's hidden state: the result is a new handle on the same storage.
        var output = deferred > 0 ? AddToColumnsFrom(mid, ffn!, deferred).alias() : mid.requires_grad ? mid + ffn! : mid.add_(ffn!);
        return output.MoveToOuterDisposeScope();
    }

    /// <summary><c>hidden[:, start:] += update[:, start:]</c> in place; returns <paramref name="hidden"/>.</summary>
    private static Tensor AddToColumnsFrom(Tensor hidden, Tensor update, int start)
    {
        long length = hidden.shape[1] - start;
        using (var live = hidden.narrow(1, start, length))
        using (var added = update.narrow(1, start, length))
            live.add_(added);
        return hidden;
    }

    /// <summary>
    /// The rows' q and k, rotated by their own positions' phases, and their V (the cache's probe V when it has one):
    /// with the fused weights one matmul and one rotation for all heads of q and k.
    /// </summary>
    private (Tensor Query, Tensor Key, Tensor Value) ProjectRotated(Tensor x, in LayerRows rows, LayerInputs inputs)
    {
        var cos = rows.Gather(inputs.HeadCos);
        var sin = rows.Gather(inputs.HeadSignedSin);
        if (!Fused)
        {
            return (Rotary.ApplyHeads(ProjectQuery(x), cos, sin, HeadDim), Rotary.ApplyHeads(ProjectKey(x), cos, sin, HeadDim),
                rows.Value ?? ProjectValue(x));
        }
        var projected = rows.Value is null ? nn.functional.linear(x, _fused.Qkv, _fused.QkvBias) : nn.functional.linear(x, _fused.QkWeight, _fused.QkBias);
        var queryKey = Rotary.ApplyHeads(rows.Value is null ? projected.narrow(-1, 0, _queryWidth + _keyValueWidth) : projected, cos, sin, HeadDim);
        return (queryKey.narrow(-1, 0, _queryWidth), queryKey.narrow(-1, _queryWidth, _keyValueWidth),
            rows.Value ?? projected.narrow(-1, _queryWidth + _keyValueWidth, _keyValueWidth));
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            // Non-persistent buffers are not listed with the module's buffers: freed here (a second Dispose is a no-op).
            _fused.QkWeight.Dispose();
            _fused.QkBias?.Dispose();
            _fused.Qkv.Dispose();
            _fused.QkvBias?.Dispose();
            _fused.GateUp.Dispose();
        }
        base.Dispose(disposing);
    }
}
