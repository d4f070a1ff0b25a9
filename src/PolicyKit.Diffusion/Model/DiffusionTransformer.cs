using PolicyKit.Diffusion.Checkpoints;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Model;

/// <summary>
/// The module tree: <c>embed_tokens</c>, <c>layers.{i}</c>, <c>norm</c>, <c>lm_head</c> (absent when tied).
/// <see cref="CheckpointLayout"/> maps both HF layouts' tensor names onto these parameter names.
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
        register_module(nameof(embed_tokens), embed_tokens);
        register_module(nameof(layers), layers);
        register_module(nameof(norm), norm);
        if (!config.TieWordEmbeddings)
        {
            lm_head = new Projection(nameof(lm_head), config.HiddenSize, config.VocabSize, false, dtype, device);
            register_module(nameof(lm_head), lm_head);
        }
    }

    public ModelConfig Config { get; }

    public IReadOnlyList<TransformerLayer> Layers { get; }

    /// <summary>Logits for normalised hidden rows <c>[B, n, hidden]</c> → <c>[B, n, vocab]</c>.</summary>
    public Tensor LmHead(Tensor x) =>
        lm_head is not null ? lm_head.forward(x) : nn.functional.linear(x, embed_tokens.weight);
}
