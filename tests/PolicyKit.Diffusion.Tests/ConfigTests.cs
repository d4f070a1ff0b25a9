using PolicyKit.Diffusion.Checkpoints;

namespace PolicyKit.Diffusion.Tests;

public class ConfigTests
{
    private const string LLaDA8B = """
        {"activation_type": "silu", "alibi": false, "block_type": "llama", "d_model": 4096, "embedding_size": 126464,
         "eos_token_id": 126081, "include_bias": false, "include_qkv_bias": false, "layer_norm_type": "rms",
         "mask_token_id": 126336, "max_sequence_length": 4096, "mlp_hidden_size": 12288, "model_type": "llada",
         "n_heads": 32, "n_kv_heads": 32, "n_layers": 32, "pad_token_id": 126081, "rms_norm_eps": 1e-05, "rope": true,
         "rope_theta": 500000.0, "vocab_size": 126464, "weight_tying": false, "multi_query_attention": null}
        """;

    private const string Dream7B = """
        {"architectures": ["DreamModel"], "bos_token_id": 151643, "eos_token_id": 151643, "hidden_act": "silu",
         "hidden_size": 3584, "intermediate_size": 18944, "mask_token_id": 151666, "max_position_embeddings": 131072,
         "model_type": "Dream", "num_attention_heads": 28, "num_hidden_layers": 28, "num_key_value_heads": 4,
         "pad_token_id": 151643, "rms_norm_eps": 1e-06, "rope_scaling": null, "rope_theta": 1000000.0,
         "tie_word_embeddings": false, "vocab_size": 152064, "use_sliding_window": false}
        """;

    [Fact]
    public void ParsesLLaDA8BConfig()
    {
        var c = ModelConfig.Parse(LLaDA8B, "config.json");
        Assert.Equal(Layout.LLaDA, c.Layout);
        Assert.Equal((4096, 32, 32, 32, 12288, 126464), (c.HiddenSize, c.NumLayers, c.NumHeads, c.NumKvHeads, c.IntermediateSize, c.VocabSize));
        Assert.Equal(126336, c.MaskTokenId);
        Assert.Equal(500000.0, c.RopeTheta);
        Assert.False(c.QkvBias);
        Assert.False(c.ShiftedLogits);
        Assert.InRange(c.ParameterCount, 7_900_000_000L, 8_100_000_000L);
    }

    [Fact]
    public void ParsesDream7BConfig()
    {
        var c = ModelConfig.Parse(Dream7B, "config.json");
        Assert.Equal(Layout.Dream, c.Layout);
        Assert.Equal((3584, 28, 28, 4, 18944, 152064), (c.HiddenSize, c.NumLayers, c.NumHeads, c.NumKvHeads, c.IntermediateSize, c.VocabSize));
        Assert.Equal(128, c.HeadDim);
        Assert.Equal(151666, c.MaskTokenId);
        Assert.True(c.QkvBias);
        Assert.True(c.ShiftedLogits);
        Assert.InRange(c.ParameterCount, 7_500_000_000L, 7_700_000_000L);
    }

    [Theory]
    [InlineData(Layout.LLaDA)]
    [InlineData(Layout.Dream)]
    public void ToJsonRoundTrips(Layout layout)
    {
        using var dir = new TempDir();
        var written = TestModels.Write(dir.Path, layout);
        Assert.Equal(written, ModelConfig.Load(dir.Path));
    }

    [Theory]
    [InlineData("\"n_heads\": 32", "\"n_heads\": 0", "head count (n_heads) must be positive")]
    [InlineData("\"d_model\": 4096", "\"d_model\": 4095", "not divisible by the head count")]
    [InlineData("\"d_model\": 4096", "\"d_model\": -4096", "must be positive")]
    [InlineData("\"n_kv_heads\": 32", "\"n_kv_heads\": 5", "not divisible by the key/value head count 5")]
    [InlineData("\"mlp_hidden_size\": 12288", "\"mlp_hidden_size\": \"big\"", "'mlp_hidden_size' must be an integer")]
    [InlineData("\"n_layers\": 32", "\"n_layers\": 3.5", "'n_layers' must be an integer")]
    [InlineData("\"rope_theta\": 500000.0", "\"rope_theta\": -1", "rope_theta must be a positive")]
    [InlineData("\"mask_token_id\": 126336", "\"mask_token_id\": 999999", "outside the vocabulary")]
    [InlineData("\"alibi\": false", "\"alibi\": true", "'alibi'")]
    [InlineData("\"block_type\": \"llama\"", "\"block_type\": \"sequential\"", "'block_type'")]
    [InlineData("\"d_model\": 4096,", "", "'d_model' is missing")]
    [InlineData("\"d_model\": 4096", "\"d_model\": 99999999999", "'d_model' must be an integer")]
    [InlineData("\"d_model\": 4096", "\"d_model\": 4096, \"d_model\": 4096", "duplicate key")]
    public void BadLLaDAValuesAreNamed(string from, string to, string expected)
    {
        var json = LLaDA8B.Replace(from, to);
        Assert.NotEqual(LLaDA8B, json);
        var e = Assert.Throws<ModelConfigException>(() => ModelConfig.Parse(json, "/m/config.json"));
        Assert.Equal("/m/config.json", e.File);
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData("\"num_attention_heads\": 28", "\"num_attention_heads\": 0", "num_attention_heads")]
    [InlineData("\"num_key_value_heads\": 4", "\"num_key_value_heads\": 3", "not divisible")]
    [InlineData("\"intermediate_size\": 18944", "\"intermediate_size\": -1", "intermediate_size")]
    [InlineData("\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\"", "hidden_act")]
    [InlineData("\"rope_scaling\": null", "\"rope_scaling\": {\"type\": \"yarn\"}", "rope_scaling")]
    public void BadDreamValuesAreNamed(string from, string to, string expected)
    {
        var json = Dream7B.Replace(from, to);
        Assert.NotEqual(Dream7B, json);
        var e = Assert.Throws<ModelConfigException>(() => ModelConfig.Parse(json, "config.json"));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void SizesWhoseParameterCountOverflowsAreRefused()
    {
        var json = LLaDA8B.Replace("\"d_model\": 4096", "\"d_model\": 2147483584").Replace("\"n_layers\": 32", "\"n_layers\": 2000000000");
        var e = Assert.Throws<ModelConfigException>(() => ModelConfig.Parse(json, "config.json"));
        Assert.Contains("overflows", e.Message);
    }

    [Theory]
    [InlineData("{ not json")]
    [InlineData("[]")]
    [InlineData("{\"model_type\": \"gpt2\"}")]
    public void UnreadableConfigs(string json) =>
        Assert.Throws<ModelConfigException>(() => ModelConfig.Parse(json, "config.json"));

    [Fact]
    public void MissingConfigFile()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<ModelConfigException>(() => ModelConfig.Load(dir.Path));
        Assert.Equal(dir.File("config.json"), e.File);
    }
}
