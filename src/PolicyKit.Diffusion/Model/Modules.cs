using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Model;

/// <summary>
/// <c>y = x Wᵀ (+ b)</c> over the last dimension. Parameters start uninitialised (<c>torch.empty</c>): they are
/// always overwritten from a checkpoint, and random init of an 8B model would cost seconds for nothing.
/// </summary>
public sealed class Projection : nn.Module<Tensor, Tensor>
{
    public readonly Parameter weight;
    public readonly Parameter? bias;

    public Projection(string name, long inFeatures, long outFeatures, bool hasBias, ScalarType dtype, Device device)
        : this(name, torch.empty([outFeatures, inFeatures], dtype, device), hasBias ? torch.empty([outFeatures], dtype, device) : null)
    {
    }

    /// <summary>
    /// A projection whose parameters are the given tensors themselves (not copies): for rows of a fused weight
    /// (<see cref="TransformerLayer"/>), so that the fused matmul and this projection read one storage.
    /// </summary>
    internal Projection(string name, Tensor weightStorage, Tensor? biasStorage) : base(name)
    {
        weight = new Parameter(weightStorage, requires_grad: false);
        register_parameter(nameof(weight), weight);
        if (biasStorage is not null)
        {
            bias = new Parameter(biasStorage, requires_grad: false);
            register_parameter(nameof(bias), bias);
        }
    }

    public long InFeatures => weight.shape[1];
    public long OutFeatures => weight.shape[0];

    public override Tensor forward(Tensor x) => nn.functional.linear(x, weight, bias);
}

/// <summary>
/// RMSNorm as LLaDA and Qwen2 compute it: the statistics in float32, the result cast back to the input
/// dtype and then scaled by the weight.
/// </summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    public readonly Parameter weight;
    private readonly double _eps;

    // Held for the module's life: a Scalar converted implicitly at the call is garbage the moment its handle is read,
    // and its finaliser can free it while LibTorch still reads it (a training run died of this in pow(2)).
    private readonly Scalar _epsScalar;

    public RmsNorm(string name, long size, double eps, ScalarType dtype, Device device) : base(name)
    {
        _eps = eps;
        _epsScalar = eps;
        weight = new Parameter(torch.empty([size], dtype, device), requires_grad: false);
        register_parameter(nameof(weight), weight);
    }

    public double Eps => _eps;

    public override Tensor forward(Tensor x)
    {
        // Three new tensors for float32 (the rest in place, the same values as `weight * (x * rsqrt(mean(x²) + eps))`):
        // the cached path runs this on a few rows per layer, where each native call costs about what its arithmetic does.
        // Casts only for half-precision inputs.
        if (x.dtype != ScalarType.Float32)
        {
            using var x32 = x.to(ScalarType.Float32);
            using var normed = Normalise(x32);
            return normed.to(x.dtype).mul_(weight);
        }
        return Normalise(x).mul_(weight);
    }

    private Tensor Normalise(Tensor x32)
    {
        using var square = x32.square();
        using var inverseRms = square.mean([-1L], keepdim: true).add_(_epsScalar).rsqrt_();
        return x32 * inverseRms;
    }
}

/// <summary>Token embedding table (<c>[vocab, hidden]</c>); also the LM head when weights are tied.</summary>
public sealed class TokenEmbedding : nn.Module<Tensor, Tensor>
{
    public readonly Parameter weight;

    public TokenEmbedding(string name, long vocab, long hidden, ScalarType dtype, Device device) : base(name)
    {
        weight = new Parameter(torch.empty([vocab, hidden], dtype, device), requires_grad: false);
        register_parameter(nameof(weight), weight);
    }

    /// <summary>ids <c>[B, T]</c> int64 → <c>[B, T, hidden]</c>.</summary>
    public override Tensor forward(Tensor ids)
    {
        using var flat = ids.reshape(-1);
        using var rows = weight.index_select(0, flat);
        return rows.view(ids.shape[0], ids.shape[1], weight.shape[1]);
    }
}
