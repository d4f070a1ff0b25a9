using PolicyKit.Diffusion.Runtime;
using PolicyKit.Diffusion.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Checkpoints;

/// <summary>Sizes of a random model. Unset values get defaults that suit the layout.</summary>
public sealed record ModelSizes
{
    public int HiddenSize { get; init; } = 64;
    public int Layers { get; init; } = 2;
    public int Heads { get; init; } = 4;
    /// <summary>Default: MHA for LLaDA, half the heads (GQA) for Dream.</summary>
    public int? KvHeads { get; init; }
    /// <summary>Default: about 8/3 of the hidden size, a multiple of 16 (the usual SwiGLU ratio).</summary>
    public int? IntermediateSize { get; init; }
    /// <summary>Default: the tokenizer's size rounded up to a multiple of 64 (real models pad their vocabulary too).</summary>
    public int? VocabSize { get; init; }
    public int MaxSequenceLength { get; init; } = 2048;
    public bool TieWordEmbeddings { get; init; }
}

/// <summary>How a random checkpoint is stored.</summary>
public sealed record RandomCheckpointOptions
{
    /// <summary>Storage dtype of the weights (F32, F16 or BF16).</summary>
    public SafetensorsDType StoreAs { get; init; } = SafetensorsDType.F32;
    /// <summary>More than one writes <c>model-0000k-of-0000n.safetensors</c> and an index.</summary>
    public int Shards { get; init; } = 1;
    /// <summary>Write merges in the [a, b] array form instead of "a b".</summary>
    public bool MergesAsArrays { get; init; }
}

/// <summary>
/// Writes a randomly initialised checkpoint in a real HF layout: config.json (the layout's own keys),
/// model.safetensors (or shards + index) with the real tensor names, tokenizer.json and tokenizer_config.json.
/// Weights ~ N(0, 0.02²), norm weights 1. Deterministic for a seed.
/// </summary>
public static class RandomCheckpoint
{
    public const string EosToken = "<|endoftext|>";
    public const string LLaDAMaskToken = "<|mdm_mask|>";
    public const string DreamMaskToken = "<|mask|>";
    public const double InitStd = 0.02;

    public static ModelConfig Write(string directory, Layout layout, ModelSizes sizes, int seed, RandomCheckpointOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(sizes);
        options ??= new RandomCheckpointOptions();
        if (!options.StoreAs.IsFloatingPoint()) throw new ArgumentException("weights must be stored as a floating-point dtype", nameof(options));
        TorchRuntime.EnsureLoaded();
        Directory.CreateDirectory(directory);

        var maskToken = layout == Layout.LLaDA ? LLaDAMaskToken : DreamMaskToken;
        var tokenizer = ByteLevelTokenizerWriter.Write(Path.Combine(directory, TextTokenizer.FileName),
            ByteLevelTokenizerWriter.DefaultMerges, [EosToken, maskToken], options.MergesAsArrays, nfcNormalizer: layout == Layout.Dream);
        ByteLevelTokenizerWriter.WriteConfig(Path.Combine(directory, TextTokenizer.ConfigFileName), EosToken, EosToken);

        var vocab = sizes.VocabSize ?? (tokenizer.TokenCount + 63) / 64 * 64;
        if (vocab < tokenizer.TokenCount)
            throw new ArgumentException($"vocabulary size {vocab} is smaller than the tokenizer's {tokenizer.TokenCount} tokens", nameof(sizes));
        var eos = tokenizer.SpecialTokens[EosToken];
        var config = new ModelConfig
        {
            Layout = layout,
            HiddenSize = sizes.HiddenSize,
            NumLayers = sizes.Layers,
            NumHeads = sizes.Heads,
            NumKvHeads = sizes.KvHeads ?? (layout == Layout.Dream && sizes.Heads % 2 == 0 ? sizes.Heads / 2 : sizes.Heads),
            IntermediateSize = sizes.IntermediateSize ?? Math.Max(16, (sizes.HiddenSize * 8 / 3 + 15) / 16 * 16),
            VocabSize = vocab,
            RopeTheta = layout == Layout.LLaDA ? 500000.0 : 1000000.0,
            RmsNormEps = layout == Layout.LLaDA ? 1e-5 : 1e-6,
            MaxSequenceLength = sizes.MaxSequenceLength,
            MaskTokenId = tokenizer.SpecialTokens[maskToken],
            EosTokenId = eos,
            PadTokenId = eos,
            TieWordEmbeddings = sizes.TieWordEmbeddings,
            QkvBias = layout == Layout.Dream,
        };
        var configPath = Path.Combine(directory, ModelConfig.FileName);
        config.Validate(configPath);
        File.WriteAllText(configPath, config.ToJson());

        using var scope = torch.NewDisposeScope();
        var weights = RandomWeights(config, seed);
        if (options.Shards > 1)
            SafetensorsWriter.WriteSharded(directory, weights, options.Shards, options.StoreAs);
        else
            SafetensorsWriter.Write(Path.Combine(directory, SafetensorsReader.SingleFileName), weights, options.StoreAs,
                new Dictionary<string, string> { ["format"] = "pt" });
        return config;
    }

    /// <summary>Random weights under their checkpoint names, float32 on the CPU (in the caller's dispose scope).</summary>
    public static IReadOnlyList<KeyValuePair<string, Tensor>> RandomWeights(ModelConfig config, int seed)
    {
        using var generator = new torch.Generator((ulong)seed);
        var result = new List<KeyValuePair<string, Tensor>>();
        foreach (var spec in CheckpointLayout.Tensors(config))
        {
            var isNorm = spec.ParameterName.EndsWith("norm.weight", StringComparison.Ordinal);
            var t = isNorm
                ? torch.ones(spec.Shape, ScalarType.Float32)
                : torch.randn(spec.Shape, ScalarType.Float32, generator: generator).mul_(InitStd);
            result.Add(new(spec.CheckpointName, t));
        }
        return result;
    }
}
