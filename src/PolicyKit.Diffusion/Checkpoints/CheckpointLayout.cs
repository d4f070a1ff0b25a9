namespace PolicyKit.Diffusion.Checkpoints;

/// <summary>One weight: its name in the checkpoint, the model parameter it loads into, and its shape.</summary>
public sealed record TensorSpec(string CheckpointName, string ParameterName, long[] Shape)
{
    public string ShapeText => $"[{string.Join(", ", Shape)}]";
}

/// <summary>
/// The real HF tensor names of each layout, mapped to our module's parameters
/// (<c>embed_tokens</c>, <c>layers.{i}.{attn_norm,q_proj,k_proj,v_proj,o_proj,ffn_norm,gate_proj,up_proj,down_proj}</c>,
/// <c>norm</c>, <c>lm_head</c>), with the shapes the config implies.
/// </summary>
public static class CheckpointLayout
{
    public static IReadOnlyList<TensorSpec> Tensors(ModelConfig c)
    {
        long h = c.HiddenSize, q = (long)c.NumHeads * c.HeadDim, kv = c.KvDim, i = c.IntermediateSize, v = c.VocabSize;
        var specs = new List<TensorSpec>();
        void Add(string checkpoint, string parameter, params long[] shape) => specs.Add(new TensorSpec(checkpoint, parameter, shape));

        var llada = c.Layout == Layout.LLaDA;
        Add(llada ? "model.transformer.wte.weight" : "model.embed_tokens.weight", "embed_tokens.weight", v, h);
        for (var l = 0; l < c.NumLayers; l++)
        {
            var p = $"layers.{l}.";
            if (llada)
            {
                var b = $"model.transformer.blocks.{l}.";
                Add(b + "attn_norm.weight", p + "attn_norm.weight", h);
                Add(b + "q_proj.weight", p + "q_proj.weight", q, h);
                Add(b + "k_proj.weight", p + "k_proj.weight", kv, h);
                Add(b + "v_proj.weight", p + "v_proj.weight", kv, h);
                if (c.QkvBias)
                {
                    Add(b + "q_proj.bias", p + "q_proj.bias", q);
                    Add(b + "k_proj.bias", p + "k_proj.bias", kv);
                    Add(b + "v_proj.bias", p + "v_proj.bias", kv);
                }
                Add(b + "attn_out.weight", p + "o_proj.weight", h, q);
                Add(b + "ff_norm.weight", p + "ffn_norm.weight", h);
                Add(b + "ff_proj.weight", p + "gate_proj.weight", i, h);
                Add(b + "up_proj.weight", p + "up_proj.weight", i, h);
                Add(b + "ff_out.weight", p + "down_proj.weight", h, i);
            }
            else
            {
                var b = $"model.layers.{l}.";
                Add(b + "input_layernorm.weight", p + "attn_norm.weight", h);
                Add(b + "self_attn.q_proj.weight", p + "q_proj.weight", q, h);
                Add(b + "self_attn.k_proj.weight", p + "k_proj.weight", kv, h);
                Add(b + "self_attn.v_proj.weight", p + "v_proj.weight", kv, h);
                if (c.QkvBias)
                {
                    Add(b + "self_attn.q_proj.bias", p + "q_proj.bias", q);
                    Add(b + "self_attn.k_proj.bias", p + "k_proj.bias", kv);
                    Add(b + "self_attn.v_proj.bias", p + "v_proj.bias", kv);
                }
                Add(b + "self_attn.o_proj.weight", p + "o_proj.weight", h, q);
                Add(b + "post_attention_layernorm.weight", p + "ffn_norm.weight", h);
                Add(b + "mlp.gate_proj.weight", p + "gate_proj.weight", i, h);
                Add(b + "mlp.up_proj.weight", p + "up_proj.weight", i, h);
                Add(b + "mlp.down_proj.weight", p + "down_proj.weight", h, i);
            }
        }
        Add(llada ? "model.transformer.ln_f.weight" : "model.norm.weight", "norm.weight", h);
        if (!c.TieWordEmbeddings)
            Add(llada ? "model.transformer.ff_out.weight" : "lm_head.weight", "lm_head.weight", v, h);
        return specs;
    }

    /// <summary>
    /// Checks the checkpoint holds exactly the expected tensors with the expected shapes and floating-point
    /// dtypes, before anything is allocated. Errors name the tensor and the file.
    /// </summary>
    public static void Verify(ModelConfig config, SafetensorsReader weights)
    {
        // Never build specs for more layers than the file could hold: a config.json claiming 2^31-1 layers made
        // Tensors() materialise billions of specs and the process died (found by the model-load fuzz test).
        // One layer past what the file can hold still yields the usual "missing" error for its first tensor.
        var possibleLayers = weights.Tensors.Count / (config.QkvBias ? 12 : 9) + 1;
        var specs = Tensors(config.NumLayers > possibleLayers ? config with { NumLayers = possibleLayers } : config);
        var expected = new HashSet<string>(specs.Select(s => s.CheckpointName), StringComparer.Ordinal);
        foreach (var spec in specs)
        {
            if (!weights.Tensors.TryGetValue(spec.CheckpointName, out var entry))
                throw new CheckpointException(weights.Source, spec.CheckpointName,
                    $"missing (a {config.Layout} model with this config.json needs it, shape {spec.ShapeText})");
            if (!entry.Shape.SequenceEqual(spec.Shape))
                throw new CheckpointException(entry.File, spec.CheckpointName, $"has shape {entry.ShapeText}, expected {spec.ShapeText} from config.json");
            if (!entry.DType.IsFloatingPoint())
                throw new CheckpointException(entry.File, spec.CheckpointName, $"has dtype {entry.DType}, expected F32, F16, BF16 or F64");
        }
        foreach (var (name, entry) in weights.Tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            if (!expected.Contains(name))
                throw new CheckpointException(entry.File, name, $"unexpected in a {config.Layout} checkpoint (not a parameter of this config)");
    }
}
