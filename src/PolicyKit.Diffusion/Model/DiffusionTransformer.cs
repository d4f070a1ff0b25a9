using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Flops;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Model;

/// <summary>
/// The module tree (<c>embed_tokens</c>, <c>layers.{i}</c>, <c>norm</c>, <c>lm_head</c>, absent when tied) and the one
/// forward that inference and training both run. <see cref="CheckpointLayout"/> maps both HF layouts' tensor
/// names onto these parameter names.
/// </summary>
public sealed class DiffusionTransformer : nn.Module
{
    public readonly TokenEmbedding embed_tokens;
    public readonly ModuleList<TransformerLayer> layers;
    public readonly RmsNorm norm;
    public readonly Projection? lm_head;

    public DiffusionTransformer(ModelConfig config, ScalarType dtype, Device device) : base(nameof(DiffusionTransformer))
    {
        Config = config;
        embed_tokens = new TokenEmbedding(nameof(embed_tokens), config.VocabSize, config.HiddenSize, dtype, device);
        Layers = Enumerable.Range(0, config.NumLayers).Select(i => new TransformerLayer(i, config, dtype, device)).ToArray();
        layers = new ModuleList<TransformerLayer>(Layers.ToArray());
        norm = new RmsNorm(nameof(norm), config.HiddenSize, config.RmsNormEps, dtype, device);
        // A non-persistent buffer: freed with the module, never read from or written to a checkpoint.
        _inverseFrequencies = Rotary.InverseFrequencies(config.HeadDim, config.RopeTheta, device).DetachFromDisposeScope();
        register_buffer("rotary_inverse_frequencies", _inverseFrequencies, persistent: false);
        _rotary = RotaryTable.Create(Math.Min(config.MaxSequenceLength, RotaryTable.MaxLength), _inverseFrequencies);
        register_module(nameof(embed_tokens), embed_tokens);
        register_module(nameof(layers), layers);
        register_module(nameof(norm), norm);
        if (!config.TieWordEmbeddings)
        {
            lm_head = new Projection(nameof(lm_head), config.HiddenSize, config.VocabSize, false, dtype, device);
            register_module(nameof(lm_head), lm_head);
        }
    }

    private readonly Tensor _inverseFrequencies;
    private readonly RotaryTable _rotary;

    /// <summary>
    /// The rotary phases of positions <c>[0, Length)</c>, computed once: an unpadded forward narrows them instead of
    /// computing its own (the same values bit for bit: each position's phases depend on that position only).
    /// </summary>
    private sealed class RotaryTable(int length, Tensor cos, Tensor sin, Tensor headCos, Tensor headSignedSin) : IDisposable
    {
        /// <summary>Longest table kept (6 MB of float32 at head dim 128); longer sequences compute their phases per forward.</summary>
        public const int MaxLength = 4096;

        public int Length { get; } = length;
        public Tensor Cos { get; } = cos;
        public Tensor Sin { get; } = sin;
        public Tensor HeadCos { get; } = headCos;
        public Tensor HeadSignedSin { get; } = headSignedSin;

        public static RotaryTable Create(int length, Tensor inverseFrequencies)
        {
            using var scope = torch.NewDisposeScope();
            using var positions = torch.arange(length, ScalarType.Int64, inverseFrequencies.device).unsqueeze(0);
            var (cos, sin) = Rotary.CosSin(positions, inverseFrequencies);  // [1, length, headDim]
            return new RotaryTable(length, cos.DetachFromDisposeScope(), sin.DetachFromDisposeScope(),
                cos.unsqueeze(2).DetachFromDisposeScope(), Rotary.SignedSin(sin).unsqueeze(2).DetachFromDisposeScope());
        }

        public void Dispose()
        {
            Cos.Dispose(); Sin.Dispose(); HeadCos.Dispose(); HeadSignedSin.Dispose();
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _rotary.Dispose();
        base.Dispose(disposing);
    }

    public ModelConfig Config { get; }

    public IReadOnlyList<TransformerLayer> Layers { get; }

    /// <summary>
    /// The forward pass: embed → every layer (through <paramref name="cache"/> when given) → final norm → LM head on
    /// positions <c>[logitsStart, logitsStart + logitsLength)</c> only. For a Dream-layout model row j of the result
    /// comes from position <c>logitsStart + j - 1</c> (position 0 from itself, as Dream's generate does), so row j
    /// always predicts position <c>logitsStart + j</c> and no caller re-implements the shift.
    /// </summary>
    /// <param name="inputIds"><c>[B, T]</c> int64 on the model's device.</param>
    /// <param name="attentionMask"><c>[B, T]</c> bool (true = real token; prompts left-padded) on the model's device, or null when no row is padded.</param>
    /// <param name="logitsStart">First position whose logits are returned.</param>
    /// <param name="logitsLength">Positions whose logits are returned.</param>
    /// <param name="cache">The cache hook every layer calls (null: every row computed, nothing kept).</param>
    /// <param name="flops">Adds the executed and full-forward FLOPs of this forward (null: not counted).</param>
    /// <param name="causal">Causal attention, each position attending to itself and the positions before it (for
    /// autoregressive objectives); off by default, as diffusion models attend both ways. Every row is computed, so a
    /// cache hook must select all rows.</param>
    /// <returns>Logits <c>[B, logitsLength, vocab]</c> in the model's dtype; only they outlive the call. Gradients flow
    /// when the caller enables them (training).</returns>
    public Tensor Forward(Tensor inputIds, Tensor? attentionMask, int logitsStart, int logitsLength, ILayerCache? cache = null, FlopTally? flops = null,
        bool causal = false)
    {
        ArgumentNullException.ThrowIfNull(inputIds);
        if (inputIds.dim() != 2 || inputIds.dtype != ScalarType.Int64)
            throw new ArgumentException($"inputIds must be [B, T] int64, got [{string.Join(", ", inputIds.shape)}] {inputIds.dtype}", nameof(inputIds));
        var b = (int)inputIds.shape[0];
        var t = (int)inputIds.shape[1];
        if (b < 1 || t < 1) throw new ArgumentException("inputIds must have at least one row and one column", nameof(inputIds));
        if (t > Config.MaxSequenceLength)
            throw new ArgumentException($"sequence length {t} exceeds the model's maximum {Config.MaxSequenceLength}", nameof(inputIds));
        if (logitsStart < 0 || logitsLength < 0 || logitsStart + (long)logitsLength > t)
            throw new ArgumentOutOfRangeException(nameof(logitsStart), $"logits range [{logitsStart}, {logitsStart + (long)logitsLength}) is outside [0, {t}]");
        if (attentionMask is not null && (attentionMask.dtype != ScalarType.Bool || !attentionMask.shape.SequenceEqual(inputIds.shape)))
            throw new ArgumentException($"attentionMask must be [B, T] bool like inputIds, got [{string.Join(", ", attentionMask.shape)}] {attentionMask.dtype}", nameof(attentionMask));

        using var scope = torch.NewDisposeScope();
        var inputs = CreateLayerInputs(b, t, attentionMask, causal);
        var hidden = embed_tokens.forward(inputIds);
        foreach (var layer in Layers)
        {
            var next = layer.Forward(hidden, inputs, cache, flops);
            hidden.Dispose(); // keep peak memory at one hidden state (autograd keeps what backward needs)
            hidden = next;
        }
        var logits = LmHead(norm.forward(LogitRows(hidden, logitsStart, logitsLength)));
        flops?.AddLmHead((long)b * logitsLength);
        return logits.MoveToOuterDisposeScope();
    }

    /// <summary>Hidden rows whose logits are wanted: the range itself, or for Dream the range shifted back by one.</summary>
    private Tensor LogitRows(Tensor hidden, int start, int length)
    {
        if (!Config.ShiftedLogits) return hidden.narrow(1, start, length);
        if (start >= 1) return hidden.narrow(1, start - 1, length);
        if (length == 0) return hidden.narrow(1, 0, 0);
        var index = torch.arange(-1, length - 1, ScalarType.Int64, hidden.device).clamp_min(0);
        return hidden.index_select(1, index);
    }

    /// <summary>
    /// Rotary phases, position ids and the attention mask for a <c>[b, t]</c> batch (left-padded rows as
    /// <paramref name="paddingMask"/> says; <paramref name="causal"/>: each position sees itself and those before it),
    /// in the caller's dispose scope.
    /// </summary>
    public LayerInputs CreateLayerInputs(int b, int t, Tensor? paddingMask, bool causal = false)
    {
        var device = _inverseFrequencies.device;
        Tensor positions;
        Tensor? attention = null;
        if (paddingMask is null)
        {
            positions = torch.arange(t, ScalarType.Int64, device).unsqueeze(0);
        }
        else
        {
            if (!paddingMask.any(1).all().item<bool>())
                throw new ArgumentException("attentionMask has a row with no real token", nameof(paddingMask));
            // Left padding: each row's first real token gets position 0, as when the row runs alone.
            positions = (paddingMask.to(ScalarType.Int64).cumsum(1) - 1).clamp_min(0);
            attention = paddingMask.view(b, 1, 1, t);
        }
        if (causal)
        {
            var lowerTriangle = torch.ones([t, t], ScalarType.Bool, device).tril().view(1, 1, t, t);
            // Every query keeps its own key, so a left-pad row (no real key before it) stays finite instead of NaN.
            attention = attention is null ? lowerTriangle : (lowerTriangle & attention).logical_or_(torch.eye(t, t, ScalarType.Bool, device).view(1, 1, t, t));
        }
        if (paddingMask is null && t <= _rotary.Length)
            return new LayerInputs(_rotary.Cos.narrow(1, 0, t), _rotary.Sin.narrow(1, 0, t), positions, attention, paddingMask, b, t, causal,
                _rotary.HeadCos.narrow(1, 0, t), _rotary.HeadSignedSin.narrow(1, 0, t));
        var (cos, sin) = Rotary.CosSin(positions, _inverseFrequencies);
        return new LayerInputs(cos, sin, positions, attention, paddingMask, b, t, causal);
    }

    /// <summary>Logits for normalised hidden rows <c>[B, n, hidden]</c> → <c>[B, n, vocab]</c>.</summary>
    public Tensor LmHead(Tensor x) =>
        lm_head is not null ? lm_head.forward(x) : nn.functional.linear(x, embed_tokens.weight);
}
