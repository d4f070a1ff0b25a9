using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Tests;

public class CheckpointLoadingTests
{
    [Fact]
    public void LLaDACheckpointUsesTheRealTensorNamesAndConfigKeys()
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, Layout.LLaDA);
        var names = SafetensorsReader.OpenDirectory(dir.Path).Tensors.Keys.ToHashSet();
        foreach (var n in new[] { "model.transformer.wte.weight", "model.transformer.ln_f.weight", "model.transformer.ff_out.weight" })
            Assert.Contains(n, names);
        foreach (var part in new[] { "attn_norm", "q_proj", "k_proj", "v_proj", "attn_out", "ff_norm", "ff_proj", "up_proj", "ff_out" })
            Assert.Contains($"model.transformer.blocks.2.{part}.weight", names);
        Assert.DoesNotContain(names, n => n.EndsWith(".bias"));
        var json = File.ReadAllText(dir.File("config.json"));
        foreach (var key in new[] { "\"d_model\"", "\"n_layers\"", "\"n_heads\"", "\"n_kv_heads\"", "\"mlp_hidden_size\"", "\"mask_token_id\"" })
            Assert.Contains(key, json);
    }

    [Fact]
    public void DreamCheckpointUsesTheRealTensorNamesAndConfigKeys()
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, Layout.Dream);
        var names = SafetensorsReader.OpenDirectory(dir.Path).Tensors.Keys.ToHashSet();
        foreach (var n in new[] { "model.embed_tokens.weight", "model.norm.weight", "lm_head.weight",
                     "model.layers.1.input_layernorm.weight", "model.layers.1.post_attention_layernorm.weight",
                     "model.layers.1.self_attn.q_proj.bias", "model.layers.1.self_attn.k_proj.bias", "model.layers.1.self_attn.v_proj.bias",
                     "model.layers.1.self_attn.o_proj.weight", "model.layers.1.mlp.gate_proj.weight", "model.layers.1.mlp.up_proj.weight",
                     "model.layers.1.mlp.down_proj.weight" })
            Assert.Contains(n, names);
        Assert.DoesNotContain("model.layers.1.self_attn.o_proj.bias", names);
        var config = ModelConfig.Load(dir.Path);
        Assert.Equal(Layout.Dream, config.Layout);
        Assert.Equal(2, config.NumKvHeads);
        Assert.Contains("\"num_key_value_heads\"", File.ReadAllText(dir.File("config.json")));
    }

    [Theory]
    [InlineData(Layout.LLaDA)]
    [InlineData(Layout.Dream)]
    public void LoadedParametersEqualTheFileTensors(Layout layout)
    {
        using var dir = new TempDir();
        var config = TestModels.Write(dir.Path, layout);
        using var model = DiffusionModel.Load(dir.Path);
        var reader = SafetensorsReader.OpenDirectory(dir.Path);
        var parameters = TestModels.Parameters(model);
        var specs = CheckpointLayout.Tensors(config);
        Assert.Equal(specs.Count, parameters.Count);
        foreach (var spec in specs)
        {
            using var fromFile = reader.Read(spec.CheckpointName);
            Assert.True(TestModels.Same(fromFile, parameters[spec.ParameterName]), spec.CheckpointName);
        }
        Assert.Equal(config.MaskTokenId, model.MaskTokenId);
        Assert.Equal(model.Tokenizer.MaskTokenId, model.MaskTokenId);
    }

    [Theory]
    [InlineData(Layout.LLaDA)]
    [InlineData(Layout.Dream)]
    public void ShardedCheckpointGivesTheSameLogitsAsASingleFile(Layout layout)
    {
        using var single = new TempDir();
        using var sharded = new TempDir();
        TestModels.Write(single.Path, layout, seed: 3);
        TestModels.Write(sharded.Path, layout, seed: 3, new RandomCheckpointOptions { Shards = 3 });
        Assert.True(File.Exists(sharded.File("model.safetensors.index.json")));
        Assert.True(File.Exists(sharded.File("model-00003-of-00003.safetensors")));
        Assert.False(File.Exists(sharded.File("model.safetensors")));

        using var a = DiffusionModel.Load(single.Path);
        using var b = DiffusionModel.Load(sharded.Path);
        using var ids = TestModels.Ids(TestModels.RandomIds(1, 20, a.Config.VocabSize));
        using var la = a.Forward(ids, null, 0, 20);
        using var lb = b.Forward(ids, null, 0, 20);
        Assert.True(TestModels.Same(la, lb));
    }

    [Theory]
    [InlineData(SafetensorsDType.F16, 1e-3)]
    [InlineData(SafetensorsDType.BF16, 8e-3)]
    public void HalfPrecisionFilesLoadIntoFloat32(SafetensorsDType storeAs, double relativeTolerance)
    {
        using var full = new TempDir();
        using var half = new TempDir();
        TestModels.Write(full.Path, Layout.Dream, seed: 5);
        TestModels.Write(half.Path, Layout.Dream, seed: 5, new RandomCheckpointOptions { StoreAs = storeAs });
        Assert.Equal(storeAs, SafetensorsReader.OpenDirectory(half.Path).Tensors["lm_head.weight"].DType);

        using var a = DiffusionModel.Load(full.Path);
        using var b = DiffusionModel.Load(half.Path);
        // The loaded weights are exactly the fp32 weights rounded to the file's dtype.
        using (var expected = TestModels.Parameters(a)["lm_head.weight"].to(storeAs.ToScalarType()).to(ScalarType.Float32))
            Assert.True(TestModels.Same(expected, TestModels.Parameters(b)["lm_head.weight"]));
        Assert.Equal(ScalarType.Float32, TestModels.Parameters(b)["lm_head.weight"].dtype);

        using var ids = TestModels.Ids(TestModels.RandomIds(2, 16, a.Config.VocabSize));
        using var la = a.Forward(ids, null, 0, 16);
        using var lb = b.Forward(ids, null, 0, 16);
        var scale = la.abs().max().item<float>();
        Assert.True(TestModels.MaxAbsDiff(la, lb) <= relativeTolerance * scale, $"diff {TestModels.MaxAbsDiff(la, lb)} vs scale {scale}");
    }

    [Fact]
    public void ComputeInBFloat16ReturnsFloat32Logits()
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, Layout.LLaDA);
        using var model = DiffusionModel.Load(dir.Path, "cpu", ScalarType.BFloat16);
        using var ids = TestModels.Ids(TestModels.RandomIds(4, 8, model.Config.VocabSize));
        using var logits = model.Forward(ids, null, 0, 8);
        Assert.Equal(ScalarType.Float32, logits.dtype);
        Assert.False(logits.isnan().any().item<bool>());
    }

    [Fact]
    public void TiedEmbeddingsHaveNoLmHeadTensor()
    {
        using var dir = new TempDir();
        var config = TestModels.Write(dir.Path, Layout.LLaDA, sizes: TestModels.Tiny with { TieWordEmbeddings = true });
        Assert.True(config.TieWordEmbeddings);
        Assert.DoesNotContain("model.transformer.ff_out.weight", SafetensorsReader.OpenDirectory(dir.Path).Tensors.Keys);
        using var model = DiffusionModel.Load(dir.Path);
        using var ids = TestModels.Ids([5, 6, 7]);
        using var logits = model.Forward(ids, null, 0, 3);
        Assert.Equal(config.VocabSize, logits.shape[2]);
    }

    [Fact]
    public void ChunkedReadsAssembleTheSameTensor()
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, Layout.LLaDA);
        var reader = SafetensorsReader.OpenDirectory(dir.Path);
        using var whole = reader.Read("model.transformer.wte.weight");
        var saved = SafetensorsReader.ChunkBytes;
        try
        {
            SafetensorsReader.ChunkBytes = 100; // not a multiple of a row: exercises partial chunks
            using var chunked = reader.Read("model.transformer.wte.weight");
            Assert.True(TestModels.Same(whole, chunked));
        }
        finally
        {
            SafetensorsReader.ChunkBytes = saved;
        }
    }
}
