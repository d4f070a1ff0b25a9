using PolicyKit.Diffusion.Caching;
using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Flops;
using PolicyKit.Diffusion.Model;
using PolicyKit.Diffusion.Sampling;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Generation;

/// <summary>
/// The model as a sampler's denoiser for one generation: runs each forward pass through the policy's cache
/// session (or the plain layers for a policy without cache) and tallies FLOPs. One per generation, so
/// concurrent generations never share caches or counters; disposing it frees the caches.
/// </summary>
public sealed class ModelDenoiser : IDenoiser, IDisposable
{
    private readonly DiffusionModel _model;
    private readonly FlopCounter _flops;
    private readonly CacheSession? _session;
    private double _lmHeadFlops;
    private double _uncachedFlops;

    public ModelDenoiser(DiffusionModel model, ICachePolicy? policy = null)
    {
        _model = model;
        _flops = FlopCounterFor(model.Config);
        if (policy is { UsesCache: true }) _session = new CacheSession(policy, model.Config);
    }

    public int MaskTokenId => _model.MaskTokenId;

    public int VocabularySize => _model.Config.VocabSize;

    public Device Device => _model.Device;

    /// <summary>The cache session, or null when the policy uses no cache.</summary>
    public CacheSession? Session => _session;

    /// <summary>FLOPs of every forward so far: layers (as executed under the policy) and the LM head.</summary>
    public FlopCount Flops =>
        (_session?.Statistics.LayerFlops ?? new FlopCount(_uncachedFlops, _uncachedFlops)) + new FlopCount(_lmHeadFlops, _lmHeadFlops);

    /// <summary>Rows recomputed over rows a full forward computes (1 without a cache).</summary>
    public double RecomputeFraction => _session?.Statistics.RecomputeFraction ?? 1.0;

    public Tensor Predict(Tensor tokens, Tensor? attentionMask, in DenoiseStep step)
    {
        long rows = tokens.shape[0], columns = tokens.shape[1];
        _session?.BeginStep(step);
        var logits = _model.Forward(tokens, attentionMask, step.LogitsStart, step.LogitsLength, _session);
        _lmHeadFlops += _flops.LmHead(rows * step.LogitsLength);
        if (_session is null) _uncachedFlops += _flops.Layers * _flops.FullLayer(rows, columns);
        return logits;
    }

    public void Dispose() => _session?.Dispose();

    public static FlopCounter FlopCounterFor(ModelConfig c) =>
        new(c.HiddenSize, c.NumHeads, c.NumKvHeads, c.IntermediateSize, c.VocabSize, c.NumLayers);
}
