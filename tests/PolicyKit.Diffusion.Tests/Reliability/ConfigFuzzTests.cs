using System.Numerics;
using System.Text;
using System.Text.Json.Nodes;
using FsCheck;
using FsCheck.Fluent;
using PolicyKit.Diffusion.Checkpoints;
using Xunit.Abstractions;

namespace PolicyKit.Diffusion.Tests.Reliability;

public enum ConfigEditKind { Remove, SetHostile, NotDivisible, ZeroHeads, MlpRatio, FlipByte, Truncate }

public sealed record ConfigEdit(ConfigEditKind Kind, int A, int B)
{
    public override string ToString() => $"{Kind}({A},{B})";
}

public sealed record ConfigCase(ModelConfig Config, ConfigEdit[] Edits)
{
    public override string ToString() => $"{Config.Layout} h={Config.HiddenSize} heads={Config.NumHeads}/{Config.NumKvHeads} edits [{string.Join(", ", Edits.Select(e => e.ToString()))}]";
}

/// <summary>
/// Property tests of config.json: valid configs of both layouts, edited (keys removed, sizes set to zero,
/// negative, huge, fractional or of the wrong type, hidden size not divisible by the heads, bytes flipped),
/// either load into a config whose values are what the file says and that a model can be built from, or throw
/// <see cref="ModelConfigException"/> naming the file.
/// </summary>
public class ConfigFuzzTests(ITestOutputHelper output)
{
    private static readonly string[] Hostile =
    [
        "0", "-1", "-2147483648", "2147483647", "2147483648", "1099511627776", "1e300", "1e-300", "3.5", "2.0", "-0",
        "\"32\"", "true", "false", "null", "[]", "{}", "\"\"", "\"\\ud800\"", "1e400", "[1]",
    ];

    // Keys each layout reads, plus ones it refuses or derives from.
    private static readonly string[] LLaDAKeys =
    [
        "d_model", "n_layers", "n_heads", "n_kv_heads", "mlp_hidden_size", "mlp_ratio", "vocab_size", "embedding_size",
        "rope_theta", "rms_norm_eps", "max_sequence_length", "mask_token_id", "eos_token_id", "pad_token_id", "bos_token_id",
        "weight_tying", "include_qkv_bias", "multi_query_attention", "rope", "alibi", "include_bias", "block_type",
        "layer_norm_type", "activation_type", "model_type",
    ];

    private static readonly string[] DreamKeys =
    [
        "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "intermediate_size", "vocab_size",
        "rope_theta", "rms_norm_eps", "max_position_embeddings", "mask_token_id", "eos_token_id", "pad_token_id",
        "tie_word_embeddings", "hidden_act", "rope_scaling", "use_sliding_window", "model_type",
    ];

    private static readonly Gen<ModelConfig> ValidConfig =
        from layout in Gen.Elements(Layout.LLaDA, Layout.Dream)
        from headDim in Gen.Choose(1, 8).Select(x => 2 * x)
        from kvHeads in Gen.Choose(1, 4)
        from groups in Gen.Choose(1, 3)
        from layers in Gen.Choose(1, 6)
        from inter in Gen.Choose(1, 128)
        from vocab in Gen.Choose(4, 600)
        from maxSeq in Gen.Choose(1, 8192)
        from tie in Gen.Elements(true, false)
        from mask in Gen.Choose(0, 3)
        select new ModelConfig
        {
            Layout = layout, HiddenSize = kvHeads * groups * headDim, NumLayers = layers, NumHeads = kvHeads * groups,
            NumKvHeads = kvHeads, IntermediateSize = inter, VocabSize = vocab, MaxSequenceLength = maxSeq,
            TieWordEmbeddings = tie, QkvBias = layout == Layout.Dream, MaskTokenId = vocab - 1 - mask, EosTokenId = 0,
        };

    internal static readonly Gen<ConfigEdit> AnyEdit =
        from kind in Gen.Elements(Enum.GetValues<ConfigEditKind>())
        from a in Gen.Choose(0, 1 << 20)
        from b in Gen.Choose(0, 1 << 20)
        select new ConfigEdit(kind, a, b);

    private static readonly Gen<ConfigCase> Cases =
        from config in ValidConfig
        from edits in Gen.Frequency((1, Gen.Constant(Array.Empty<ConfigEdit>())), (9, Gen.Choose(1, 3).SelectMany(n => AnyEdit.ArrayOf(n))))
        select new ConfigCase(config, edits);

    internal static byte[] Build(ConfigCase c)
    {
        var o = (JsonObject)JsonNode.Parse(c.Config.ToJson())!;
        var keys = c.Config.Layout == Layout.LLaDA ? LLaDAKeys : DreamKeys;
        string Hidden() => c.Config.Layout == Layout.LLaDA ? "d_model" : "hidden_size";
        string Heads() => c.Config.Layout == Layout.LLaDA ? "n_heads" : "num_attention_heads";
        foreach (var e in c.Edits.Where(e => e.Kind is not (ConfigEditKind.FlipByte or ConfigEditKind.Truncate)))
        {
            switch (e.Kind)
            {
                case ConfigEditKind.Remove: o.Remove(keys[e.A % keys.Length]); break;
                case ConfigEditKind.SetHostile: o[keys[e.A % keys.Length]] = $"HOSTILE_{e.B % Hostile.Length}_"; break; // spliced in as text below
                case ConfigEditKind.NotDivisible: o[Hidden()] = c.Config.NumHeads * (1 + e.B % 8) + 1 + e.A % Math.Max(1, c.Config.NumHeads - 1); break;
                case ConfigEditKind.ZeroHeads: o[Heads()] = e.B % 2 == 0 ? 0 : -c.Config.NumHeads; break;
                case ConfigEditKind.MlpRatio when c.Config.Layout == Layout.LLaDA:
                    // The MLP size derived from a ratio: huge ratios must not wrap around to a plausible size.
                    o.Remove("mlp_hidden_size");
                    long h = c.Config.HiddenSize;
                    o["mlp_ratio"] = (e.B % 3) switch
                    {
                        0 => 1 + e.A % 8,
                        1 => int.MaxValue / h + 1,    // just past int
                        _ => (1L << 32) / h + 1,      // wraps to a small positive size in 32-bit arithmetic
                    };
                    break;
            }
        }
        var text = o.ToJsonString();
        for (var i = 0; i < Hostile.Length; i++) text = text.Replace($"\"HOSTILE_{i}_\"", Hostile[i]);
        var bytes = Encoding.UTF8.GetBytes(text);
        foreach (var e in c.Edits)
        {
            if (e.Kind == ConfigEditKind.FlipByte && bytes.Length > 0) bytes[e.A % bytes.Length] ^= (byte)(1 << (e.B % 8));
            if (e.Kind == ConfigEditKind.Truncate) bytes = bytes[..(e.A % (bytes.Length + 1))];
        }
        return bytes;
    }

    /// <summary>The integer a key holds when it is a JSON integer (of any size), else null.</summary>
    private static BigInteger? Integer(JsonObject? o, string key) =>
        o is not null && o.TryGetPropertyValue(key, out var n) && n is JsonValue v && v.TryGetValue<decimal>(out var d) && d == decimal.Truncate(d)
            ? new BigInteger(d) : null;

    /// <summary>An accepted config holds the file's values and sizes a model can be built from.</summary>
    private static void CheckAccepted(ModelConfig c, byte[] bytes)
    {
        JsonObject? o = null;
        // Read as the loader reads it (File.ReadAllText replaces invalid UTF-8), keys materialised up front.
        try { o = JsonNode.Parse(Encoding.UTF8.GetString(bytes)) as JsonObject; _ = o?.Count; } catch (Exception) { o = null; }
        void Same(string key, long actual)
        {
            if (Integer(o, key) is { } expected && expected != actual)
                throw new Exception($"'{key}' is {expected} in the file but the config holds {actual}");
        }
        if (c.Layout == Layout.LLaDA)
        {
            Same("d_model", c.HiddenSize); Same("n_layers", c.NumLayers); Same("n_heads", c.NumHeads); Same("n_kv_heads", c.NumKvHeads);
            Same("mlp_hidden_size", c.IntermediateSize); Same("max_sequence_length", c.MaxSequenceLength);
            if (Integer(o, "mlp_hidden_size") is null && Integer(o, "d_model") is { } d)
            {
                var expected = (Integer(o, "mlp_ratio") ?? 4) * d;
                if (expected != c.IntermediateSize) throw new Exception($"mlp_ratio x d_model is {expected} but the config holds {c.IntermediateSize}");
            }
        }
        else
        {
            Same("hidden_size", c.HiddenSize); Same("num_hidden_layers", c.NumLayers); Same("num_attention_heads", c.NumHeads);
            Same("num_key_value_heads", c.NumKvHeads); Same("intermediate_size", c.IntermediateSize); Same("vocab_size", c.VocabSize);
            Same("max_position_embeddings", c.MaxSequenceLength);
        }
        if (c.HiddenSize <= 0 || c.NumLayers <= 0 || c.NumHeads <= 0 || c.NumKvHeads <= 0 || c.IntermediateSize <= 0 || c.VocabSize <= 0 || c.MaxSequenceLength <= 0)
            throw new Exception($"a non-positive size was accepted: {c}");
        if (c.HiddenSize % c.NumHeads != 0 || c.NumHeads % c.NumKvHeads != 0 || c.HeadDim % 2 != 0)
            throw new Exception($"inconsistent heads were accepted: {c}");
        if (!(c.RopeTheta > 0) || !double.IsFinite(c.RopeTheta) || !(c.RmsNormEps > 0) || !double.IsFinite(c.RmsNormEps))
            throw new Exception($"a bad rope_theta / rms_norm_eps was accepted: {c}");
        if (c.MaskTokenId is < 0 || c.MaskTokenId >= c.VocabSize) throw new Exception($"mask id outside the vocabulary: {c}");
        _ = c.ParameterCount; // must not overflow
    }

    [Fact]
    public void An_mlp_ratio_whose_product_with_d_model_overflows_is_refused_instead_of_wrapping()
    {
        // Found by the fuzz test: 2^26 + 1 times d_model 64 wrapped to an MLP size of 64 and loaded.
        var json = new ModelConfig { Layout = Layout.LLaDA, HiddenSize = 64, NumLayers = 1, NumHeads = 4, NumKvHeads = 4, IntermediateSize = 1, VocabSize = 8 }.ToJson();
        var o = (JsonObject)JsonNode.Parse(json)!;
        o.Remove("mlp_hidden_size");
        o["mlp_ratio"] = (1 << 26) + 1;
        var e = Assert.Throws<ModelConfigException>(() => ModelConfig.Parse(o.ToJsonString(), "cfg.json"));
        Assert.Equal("cfg.json", e.File);
        Assert.Contains("mlp_ratio", e.Message);
    }

    [Fact]
    public void A_config_string_escaping_a_lone_surrogate_is_refused_with_a_model_config_exception()
    {
        // Found by the fuzz test: "\ud800" parses as JSON but reading it as a string threw InvalidOperationException.
        var e = Assert.Throws<ModelConfigException>(() => ModelConfig.Parse("{\"model_type\": \"\\ud800\", \"hidden_size\": 8}", "cfg.json"));
        Assert.Equal("cfg.json", e.File);
        Assert.Contains("Unicode", e.Message);
    }

    [Fact]
    public void Edited_configs_load_with_the_files_values_or_throw_a_model_config_exception_naming_the_file()
    {
        using var dir = new TempDir();
        var path = dir.File(ModelConfig.FileName);
        var tally = new Dictionary<string, int>();
        Fuzz.Check(Cases, Fuzz.Cases(2000), c =>
        {
            var bytes = Build(c);
            File.WriteAllBytes(path, bytes);
            ModelConfig? loaded = null;
            var (error, _) = Fuzz.Measure(() => loaded = ModelConfig.Load(dir.Path));
            var prefix = c.Edits.Length == 0 ? "valid " : "edited ";
            if (error is null)
            {
                CheckAccepted(loaded!, bytes);
                if (c.Edits.Length == 0 && loaded != c.Config with { RopeTheta = loaded!.RopeTheta, RmsNormEps = loaded.RmsNormEps })
                    throw new Exception($"the config did not round-trip: {loaded}");
                return prefix + "accepted";
            }
            if (error is not ModelConfigException ce)
                throw new Exception($"expected ModelConfigException, got {error.GetType().Name}: {error.Message}", error);
            if (ce.File != path || !ce.Message.StartsWith(path, StringComparison.Ordinal))
                throw new Exception($"the error does not name the file: {ce.Message}");
            if (c.Edits.Length == 0) throw new Exception($"a valid config was refused: {ce.Message}", ce);
            return prefix + "refused";
        }, tally);
        output.WriteLine("config.json: " + Fuzz.Summary(tally));
        Assert.True(tally.GetValueOrDefault("edited refused") > 0 && tally.GetValueOrDefault("edited accepted") > 0, Fuzz.Summary(tally));
    }
}
