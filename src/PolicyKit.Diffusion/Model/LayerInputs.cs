using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Model;

/// <summary>
/// Everything a layer needs besides the hidden state, computed once per forward pass and shared by all
/// layers. The tensors belong to the forward pass: a runner may read and index them but must not keep them.
/// </summary>
public sealed class LayerInputs
{
    public LayerInputs(Tensor cos, Tensor sin, Tensor positionIds, Tensor? attentionMask, Tensor? paddingMask, int batchSize, int sequenceLength)
    {
        Cos = cos;
        Sin = sin;
        PositionIds = positionIds;
        AttentionMask = attentionMask;
        PaddingMask = paddingMask;
        BatchSize = batchSize;
        SequenceLength = sequenceLength;
    }

    /// <summary>Rotary cos per position, <c>[B or 1, T, headDim]</c> float32 (1 when no row is padded).</summary>
    public Tensor Cos { get; }

    /// <summary>Rotary sin per position, <c>[B or 1, T, headDim]</c> float32.</summary>
    public Tensor Sin { get; }

    /// <summary>Position ids <c>[B or 1, T]</c> int64: <c>cumsum(mask) - 1</c> clamped at 0, so left padding does not shift phases.</summary>
    public Tensor PositionIds { get; }

    /// <summary>Key mask for attention, <c>[B, 1, 1, T]</c> bool (true = attend), or null when no row is padded.</summary>
    public Tensor? AttentionMask { get; }

    /// <summary>The caller's <c>[B, T]</c> bool mask (true = real token), or null.</summary>
    public Tensor? PaddingMask { get; }

    public int BatchSize { get; }
    public int SequenceLength { get; }
}

/// <summary>
/// Takes over one layer of the forward pass (the cache executor's hook). The model calls it for every layer
/// instead of <see cref="TransformerLayer.Forward"/>.
/// </summary>
/// <remarks>
/// Contract: <c>hidden</c> <c>[B, T, hidden]</c> belongs to the model (do not dispose or keep it; copy
/// rows into your own storage if you need them later). Return a new <c>[B, T, hidden]</c> tensor created during
/// the call; the model owns it. Every other tensor created during the call is freed when the call returns
/// (it runs inside a per-layer dispose scope), so tensors a runner keeps across steps must be moved out of it
/// (e.g. <c>DetachFromDisposeScope</c>) or written into preallocated storage with in-place copies.
/// </remarks>
public interface ILayerRunner
{
    Tensor RunLayer(int layerIndex, TransformerLayer layer, Tensor hidden, LayerInputs inputs);
}
