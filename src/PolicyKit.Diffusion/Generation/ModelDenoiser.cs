using PolicyKit.Diffusion.Caching;
using PolicyKit.Diffusion.Flops;
using PolicyKit.Diffusion.Model;
using PolicyKit.Diffusion.Profiling;
using PolicyKit.Diffusion.Sampling;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Generation;

/// <summary>
/// The model as a sampler's denoiser for one generation: runs each step's forward with that step's cache hook
/// (or none for a policy without cache) and one FLOPs tally. One per generation, so concurrent generations
/// never share caches or counters; disposing it frees the caches.
/// </summary>
public sealed class ModelDenoiser : IDenoiser, IDisposable
{
    private readonly DiffusionModel _model;
    private readonly FlopTally _flops;
    private readonly CacheSession? _session;
    private readonly ForwardProfiler? _profiler;

    /// <param name="model">The model.</param>
    /// <param name="policy">The cache policy (null or one without cache: the plain forward).</param>
    /// <param name="profiler">Measures every forward's layers, when given (the answer is the same).</param>
    public ModelDenoiser(DiffusionModel model, ICachePolicy? policy = null, ForwardProfiler? profiler = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        _model = model;
        _profiler = profiler;
        _flops = new FlopTally(FlopCounter.For(model.Config));
        if (policy is { UsesCache: true }) _session = new CacheSession(policy, model.Config, model.MaskTokenId);
    }

    public int MaskTokenId => _model.MaskTokenId;

    public int VocabularySize => _model.Config.VocabSize;

    public Device Device => _model.Device;

    /// <summary>The cache session, or null when the policy uses no cache.</summary>
    public CacheSession? Session => _session;

    /// <summary>FLOPs of every forward so far (layers as executed under the policy, and the LM head) against the uncached forward.</summary>
    public FlopCount Flops => _flops.Total;

    /// <summary>Rows recomputed over rows a full forward computes (1 without a cache).</summary>
    public double RecomputeFraction => _session?.Statistics.RecomputeFraction ?? 1.0;

    /// <summary>Bytes the cache tensors hold (0 without a cache); see <see cref="CacheSession.CacheBytes"/>.</summary>
    public long CacheBytes => _session?.CacheBytes ?? 0;

    public Tensor Predict(Tensor tokens, Tensor? attentionMask, in DenoiseStep step)
    {
        var current = step;  // an `in` parameter cannot be captured
        var logits = _profiler is null
            ? _model.Forward(tokens, attentionMask, step.LogitsStart, step.LogitsLength, _session?.ForStep(step, tokens), _flops)
            : _profiler.Measure(() => _session?.ForStep(current, tokens),
                hook => _model.Forward(tokens, attentionMask, current.LogitsStart, current.LogitsLength, hook, _flops));
        if (_session is { WantsConfidence: true }) _session.ObserveLogits(step, logits);  // only policies ranking by confidence
        return logits;
    }

    public void Dispose() => _session?.Dispose();
}
