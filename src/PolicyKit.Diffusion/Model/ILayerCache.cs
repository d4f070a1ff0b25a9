using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Model;

/// <summary>
/// The cache hook of one forward pass (the cache executor implements it; <c>null</c> = the plain forward).
/// <see cref="TransformerLayer.Forward"/> owns the layer's composition and calls the hook at each point where a
/// cache decides something: which rows to compute, where K/V come from, where the outputs go and which
/// cached outputs fill the rows not computed. Like HF's <c>past_key_value.update(k, v, layer_idx)</c>, the
/// cache is passed into the forward; the layer never knows which policy runs it.
/// </summary>
/// <remarks>
/// Per layer the calls come in this order: <see cref="SelectRows"/>, then (only when rows are computed)
/// <see cref="UpdateKeyValue"/>, then <see cref="MergeAttention"/> and <see cref="MergeFfn"/>. Every call runs inside
/// the layer's dispose scope: tensors a cache keeps across forwards must live outside every scope (preallocated
/// storage written with in-place copies). <c>hidden</c> and the tensors passed in belong to the layer: read
/// them, copy them, never keep or dispose them. One exception: a cache that deferred the residual adds of leading
/// columns (<see cref="LayerRows.DeferredColumns"/>) brings those rows of <c>hidden</c> up to date in place, in
/// <see cref="SelectRows"/>, before it or the layer reads any of them. All tensors keep tokens as rows: <c>[B, n, features]</c>.
/// </remarks>
public interface ILayerCache
{
    /// <summary>
    /// Chooses the rows <paramref name="layer"/> computes at this forward (it may run probes on
    /// <paramref name="hidden"/> <c>[B, T, hidden]</c> to decide). Every row's K/V and outputs not computed must be
    /// cached already.
    /// </summary>
    LayerRows SelectRows(TransformerLayer layer, Tensor hidden, LayerInputs inputs);

    /// <summary>
    /// Receives the computed rows' normalised input, rotated Q and K, and V (<c>[B, n, ·]</c>) and returns the K and V that
    /// their queries attend to, for every column (<c>[B, T, kvHeads·headDim]</c>): fresh where computed, cached elsewhere.
    /// The queries are there for attention probes (<see cref="LayerRows.AttentionProbeQueries"/>); the layer attends with them.
    /// </summary>
    (Tensor Key, Tensor Value) UpdateKeyValue(TransformerLayer layer, in LayerRows rows, Tensor normalisedInput, Tensor query, Tensor key, Tensor value);

    /// <summary>
    /// Receives the computed rows' attention output (after the output projection, before the residual add;
    /// null when no row is computed) and returns it for every row <c>[B, T, hidden]</c>, cached where not computed.
    /// </summary>
    Tensor MergeAttention(TransformerLayer layer, in LayerRows rows, Tensor? attention);

    /// <summary>Same as <see cref="MergeAttention"/> for the MLP output (before the residual add).</summary>
    Tensor MergeFfn(TransformerLayer layer, in LayerRows rows, Tensor? ffn);
}
