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

    public Projection(string name, long inFeatures, long outFeatures, bool hasBias, ScalarType dtype, Device device) : base(name)
    {
        weight = new Parameter(torch.empty([outFeatures, inFeatures], dtype, device), requires_grad: false);
        register_parameter(nameof(weight), weight);
        if (hasBias)
        {
            bias = new Parameter(torch.empty([outFeatures], dtype, device), requires_grad: false);
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

    public RmsNorm(string name, long size, double eps, ScalarType dtype, Device device) : base(name)
    {
        _eps = eps;
        weight = new Parameter(torch.empty([size], dtype, device), requires_grad: false);
        register_parameter(nameof(weight), weight);
    }

    public double Eps => _eps;

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        // Casts only for half-precision inputs: each call is a native round trip, and the cached path runs
        // this on a few rows per layer, where call overhead rather than arithmetic sets the time.
        bool f32 = x.dtype == ScalarType.Float32;
        var x32 = f32 ? x : x.to(ScalarType.Float32);
        var normed = x32 * torch.rsqrt(x32.pow(2).mean([-1L], keepdim: true) + _eps);
        return (weight * (f32 ? normed : normed.to(x.dtype))).MoveToOuterDisposeScope();
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
