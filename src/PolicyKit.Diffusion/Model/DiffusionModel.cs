using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Flops;
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
    private bool _disposed;

    private DiffusionModel(ModelConfig config, TextTokenizer tokenizer, DiffusionTransformer net, Device device, ScalarType dtype, int maskTokenId)
    {
        Config = config;
        Tokenizer = tokenizer;
        _net = net;
        Device = device;
        DType = dtype;
        MaskTokenId = maskTokenId;
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
    /// One inference forward pass (no gradients) through <see cref="DiffusionTransformer.Forward"/>.
    /// <paramref name="inputIds"/> <c>[B, T]</c> int64; <paramref name="attentionMask"/> <c>[B, T]</c> bool (true = real
    /// token; prompts left-padded) or null when no row is padded. Returns float32 logits <c>[B, logitsLength, V]</c> for
    /// positions <c>[logitsStart, logitsStart + logitsLength)</c> — for Dream already shifted, so row j predicts position
    /// <c>logitsStart + j</c>. <paramref name="cache"/> is the cache hook for this forward (e.g.
    /// <c>CacheSession.ForStep(step)</c>); <paramref name="flops"/> adds what the forward executed; <paramref name="causal"/>
    /// turns on causal attention (off for diffusion). Only the returned tensor outlives the call.
    /// </summary>
    public Tensor Forward(Tensor inputIds, Tensor? attentionMask, int logitsStart, int logitsLength, ILayerCache? cache = null, FlopTally? flops = null,
        bool causal = false)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(inputIds);
        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var ids = inputIds.device == Device ? inputIds : inputIds.to(Device);
        var mask = attentionMask is null || attentionMask.device == Device ? attentionMask : attentionMask.to(Device);
        var logits = _net.Forward(ids, mask, logitsStart, logitsLength, cache, flops, causal);
        if (logits.dtype != ScalarType.Float32) logits = logits.to(ScalarType.Float32);
        return logits.MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _net.Dispose();
    }
}
