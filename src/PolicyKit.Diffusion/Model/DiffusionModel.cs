using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Runtime;
using PolicyKit.Diffusion.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Model;

/// <summary>
/// A loaded masked-diffusion language model (LLaDA or Dream layout): read-only weights, tokenizer and the
/// forward pass. Safe to call from several threads at once: a forward keeps all its state in locals and
/// in the calling thread's dispose scope.
/// </summary>
public sealed class DiffusionModel : IDisposable
{
    private readonly DiffusionTransformer _net;
    private readonly Tensor _inverseFrequencies;
    private bool _disposed;

    private DiffusionModel(ModelConfig config, TextTokenizer tokenizer, DiffusionTransformer net, Device device, ScalarType dtype, int maskTokenId)
    {
        Config = config;
        Tokenizer = tokenizer;
        _net = net;
        Device = device;
        DType = dtype;
        MaskTokenId = maskTokenId;
        _inverseFrequencies = Rotary.InverseFrequencies(config.HeadDim, config.RopeTheta, device).DetachFromDisposeScope();
    }

    public ModelConfig Config { get; }
    public TextTokenizer Tokenizer { get; }
    public Device Device { get; }
    /// <summary>The compute dtype of the weights and activations (logits are always returned as float32).</summary>
    public ScalarType DType { get; }
    public int MaskTokenId { get; }
    public IReadOnlyList<TransformerLayer> Layers => _net.Layers;
    public DiffusionTransformer Network => _net;

    /// <summary>
    /// Loads config.json, the safetensors weights (single file or sharded index) and tokenizer.json from
    /// <paramref name="directory"/>. Weights stored as fp32/fp16/bf16 are converted to <paramref name="dtype"/>.
    /// </summary>
    public static DiffusionModel Load(string directory, string device = "cpu", ScalarType dtype = ScalarType.Float32)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (dtype is not (ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16))
            throw new ArgumentException($"compute dtype {dtype} is not supported (Float32, Float16 or BFloat16)", nameof(dtype));
        if (!Directory.Exists(directory)) throw new PolicyKitException($"{directory}: model directory not found");
        TorchRuntime.EnsureLoaded();
        var dev = TorchRuntime.ResolveDevice(device);

        var config = ModelConfig.Load(directory);
        var weights = SafetensorsReader.OpenDirectory(directory);
        CheckpointLayout.Verify(config, weights); // every shape checked before any parameter is allocated
        var tokenizer = TextTokenizer.Load(directory);
        var configPath = Path.Combine(directory, ModelConfig.FileName);
        if (tokenizer.VocabularySize > config.VocabSize)
            throw new TokenizerException(Path.Combine(directory, TextTokenizer.FileName),
                $"has ids up to {tokenizer.VocabularySize - 1} but the model's vocabulary has {config.VocabSize} rows");
        var mask = config.MaskTokenId ?? tokenizer.MaskTokenId
            ?? throw new ModelConfigException(configPath, "no mask_token_id in config.json and no known mask token in tokenizer.json");

        var net = new DiffusionTransformer(config, dtype, dev);
        try
        {
            var parameters = net.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
            using (torch.no_grad())
            {
                foreach (var spec in CheckpointLayout.Tensors(config))
                    weights.CopyInto(spec.CheckpointName, parameters[spec.ParameterName]);
            }
            net.eval();
            return new DiffusionModel(config, tokenizer, net, dev, dtype, mask);
        }
        catch
        {
            net.Dispose();
            throw;
        }
    }

    /// <summary>
    /// One forward pass. <paramref name="inputIds"/> <c>[B, T]</c> int64 on <see cref="Device"/>;
    /// <paramref name="attentionMask"/> <c>[B, T]</c> bool (true = real token; prompts left-padded) or null when no
    /// row is padded. Returns float32 logits <c>[B, logitsLength, V]</c> for positions
    /// <c>[logitsStart, logitsStart + logitsLength)</c> — for Dream already shifted, so row j predicts position
    /// <c>logitsStart + j</c>. Only the returned tensor outlives the call.
    /// </summary>
    public Tensor Forward(Tensor inputIds, Tensor? attentionMask, int logitsStart, int logitsLength, ILayerRunner? runner = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
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
        if (attentionMask is not null &&
            (attentionMask.dtype != ScalarType.Bool || !attentionMask.shape.SequenceEqual(inputIds.shape)))
            throw new ArgumentException($"attentionMask must be [B, T] bool like inputIds, got [{string.Join(", ", attentionMask.shape)}] {attentionMask.dtype}", nameof(attentionMask));

        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var ids = inputIds.device == Device ? inputIds : inputIds.to(Device);
        var inputs = CreateLayerInputs(b, t, attentionMask?.to(Device));

        var hidden = _net.embed_tokens.forward(ids);
        for (var l = 0; l < _net.Layers.Count; l++)
        {
            var layer = _net.Layers[l];
            Tensor next;
            using (var layerScope = torch.NewDisposeScope())
            {
                next = runner is null ? layer.Forward(hidden, inputs) : runner.RunLayer(l, layer, hidden, inputs);
                next.MoveToOuterDisposeScope();
            }
            if (!ReferenceEquals(next, hidden)) hidden.Dispose(); // keep peak memory at one hidden state
            hidden = next;
        }

        var rows = SelectLogitRows(hidden, logitsStart, logitsLength);
        var logits = _net.LmHead(_net.norm.forward(rows));
        if (logits.dtype != ScalarType.Float32) logits = logits.to(ScalarType.Float32);
        return logits.MoveToOuterDisposeScope();
    }

    /// <summary>Hidden rows whose logits are wanted. Dream predicts position i from row i-1 (position 0 from itself, as Dream's generate does).</summary>
    private Tensor SelectLogitRows(Tensor hidden, int start, int length)
    {
        if (!Config.ShiftedLogits) return hidden.narrow(1, start, length);
        if (start >= 1) return hidden.narrow(1, start - 1, length);
        if (length == 0) return hidden.narrow(1, 0, 0);
        var index = torch.arange(-1, length - 1, ScalarType.Int64, Device).clamp_min(0);
        return hidden.index_select(1, index);
    }

    /// <summary>
    /// Rotary phases, position ids and the attention mask for a <c>[b, t]</c> batch (left-padded rows as
    /// <paramref name="paddingMask"/> says), in the caller's dispose scope. Used by the forward pass and by training.
    /// </summary>
    public LayerInputs CreateLayerInputs(int b, int t, Tensor? paddingMask)
    {
        Tensor positions;
        Tensor? attention = null;
        if (paddingMask is null)
        {
            positions = torch.arange(t, ScalarType.Int64, Device).unsqueeze(0);
        }
        else
        {
            if (!paddingMask.any(1).all().item<bool>())
                throw new ArgumentException("attentionMask has a row with no real token", nameof(paddingMask));
            // Left padding: each row's first real token gets position 0, as when the row runs alone.
            positions = (paddingMask.to(ScalarType.Int64).cumsum(1) - 1).clamp_min(0);
            attention = paddingMask.view(b, 1, 1, t);
        }
        var (cos, sin) = Rotary.CosSin(positions, _inverseFrequencies);
        return new LayerInputs(cos, sin, positions, attention, paddingMask, b, t);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _net.Dispose();
        _inverseFrequencies.Dispose();
    }
}
