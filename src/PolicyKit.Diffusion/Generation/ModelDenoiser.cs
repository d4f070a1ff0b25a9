using PolicyKit.Diffusion.Flops;
using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Model;
using PolicyKit.Diffusion.Sampling;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Generation;

/// <summary>
/// The model as a sampler's denoiser for one generation: runs the forward pass and tallies its FLOPs.
/// Cheap to create; one per generation, so concurrent generations never share counters.
/// </summary>
public sealed class ModelDenoiser : IDenoiser
{
    private readonly DiffusionModel _model;
    private readonly FlopCounter _flops;

    public ModelDenoiser(DiffusionModel model)
    {
        _model = model;
        _flops = FlopCounterFor(model.Config);
    }

    public int MaskTokenId => _model.MaskTokenId;

    public int VocabularySize => _model.Config.VocabSize;

    public Device Device => _model.Device;

    /// <summary>FLOPs of every forward so far.</summary>
    public FlopCount Flops { get; private set; }

    public Tensor Predict(Tensor tokens, Tensor? attentionMask, in DenoiseStep step)
    {
        var logits = _model.Forward(tokens, attentionMask, step.LogitsStart, step.LogitsLength);
        double full = _flops.FullForward(tokens.shape[0], tokens.shape[1], step.LogitsLength);
        Flops += new FlopCount(full, full);
        return logits;
    }

    public static FlopCounter FlopCounterFor(ModelConfig c) =>
        new(c.HiddenSize, c.NumHeads, c.NumKvHeads, c.IntermediateSize, c.VocabSize, c.NumLayers);
}
