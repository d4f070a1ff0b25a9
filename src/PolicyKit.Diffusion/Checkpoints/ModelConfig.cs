using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PolicyKit.Diffusion.Checkpoints;

/// <summary>Which family a checkpoint belongs to: decides tensor names, config keys and logit alignment.</summary>
public enum Layout
{
    /// <summary>LLaDA (<c>model.transformer.blocks.{i}.q_proj</c> ...; OLMo-style config keys). Logits aligned with positions.</summary>
    LLaDA,
    /// <summary>Dream (Qwen2 tensor names and config keys, q/k/v biases, GQA). Logits shifted by one.</summary>
    Dream,
}

/// <summary>
/// The architecture of a masked-diffusion transformer, read from an HF <c>config.json</c> in either
/// layout's own keys (LLaDA: <c>d_model</c>, <c>n_layers</c>, ...; Dream/Qwen2: <c>hidden_size</c>, ...).
/// </summary>
public sealed record ModelConfig
{
    public required Layout Layout { get; init; }
    public required int HiddenSize { get; init; }
    public required int NumLayers { get; init; }
    public required int NumHeads { get; init; }
    public required int NumKvHeads { get; init; }
    public required int IntermediateSize { get; init; }
    /// <summary>Rows of the embedding matrix and width of the logits (LLaDA's <c>embedding_size</c>, which may exceed <c>vocab_size</c>).</summary>
    public required int VocabSize { get; init; }
    public double RopeTheta { get; init; } = 10000.0;
    public double RmsNormEps { get; init; } = 1e-5;
    public int MaxSequenceLength { get; init; } = 4096;
    public int? MaskTokenId { get; init; }
    public int? EosTokenId { get; init; }
    public int? PadTokenId { get; init; }
    public int? BosTokenId { get; init; }
    /// <summary>LM head shares the embedding matrix (LLaDA <c>weight_tying</c>, Qwen2 <c>tie_word_embeddings</c>).</summary>
    public bool TieWordEmbeddings { get; init; }
    /// <summary>Biases on the q/k/v projections (always on for Qwen2/Dream; LLaDA <c>include_qkv_bias</c>).</summary>
    public bool QkvBias { get; init; }

    public int HeadDim => HiddenSize / NumHeads;
    public int KvDim => NumKvHeads * HeadDim;

    /// <summary>Logits for position i are read from hidden row i-1 (Dream was trained as an AR model first).</summary>
    public bool ShiftedLogits => Layout == Layout.Dream;

    public const string FileName = "config.json";

    /// <summary>Reads and validates <c>config.json</c> in <paramref name="directory"/>.</summary>
    public static ModelConfig Load(string directory)
    {
        var path = Path.Combine(directory, FileName);
        if (!File.Exists(path)) throw new ModelConfigException(path, "file not found");
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelConfigException(path, $"cannot read: {e.Message}", e);
        }
        return Parse(text, path);
    }

    /// <summary>Parses config.json text; <paramref name="source"/> names the file in errors.</summary>
    public static ModelConfig Parse(string json, string source)
    {
        JsonObject root;
        try
        {
            root = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { MaxDepth = 64 }) as JsonObject
                   ?? throw new ModelConfigException(source, "expected a JSON object");
        }
        catch (JsonException e)
        {
            throw new ModelConfigException(source, $"not valid JSON: {e.Message}", e);
        }
        try
        {
            var r = new Reader(root, source);
            var layout = DetectLayout(r);
            var config = layout == Layout.LLaDA ? ParseLLaDA(r) : ParseDream(r);
            config.Validate(source);
            return config;
        }
        catch (ArgumentException e)
        {
            // JsonObject materialises properties lazily and throws ArgumentException on a duplicate key.
            throw new ModelConfigException(source, $"malformed JSON object (duplicate key?): {e.Message}", e);
        }
        catch (InvalidOperationException e)
        {
            // An escaped lone surrogate ("\ud800") parses, but reading it as a string throws this.
            throw new ModelConfigException(source, $"holds a string that is not valid Unicode: {e.Message}", e);
        }
    }

    private static Layout DetectLayout(Reader r)
    {
        var modelType = r.String("model_type");
        switch (modelType?.ToLowerInvariant())
        {
            case "llada": return Layout.LLaDA;
            case "dream": case "qwen2": return Layout.Dream;
        }
        if (r.Has("d_model") && r.Has("n_layers")) return Layout.LLaDA;
        if (r.Has("hidden_size") && r.Has("num_hidden_layers")) return Layout.Dream;
        throw new ModelConfigException(r.Source,
            $"cannot tell the layout: model_type is {(modelType is null ? "missing" : $"'{modelType}'")} " +
            "(expected 'llada' or 'Dream') and neither d_model/n_layers nor hidden_size/num_hidden_layers are present");
    }

    private static ModelConfig ParseLLaDA(Reader r)
    {
        // Features of the OLMo-derived LLaDA config that this engine does not implement are refused, not ignored.
        r.Require("rope", true, expected: true);
        r.Require("alibi", false, expected: false);
        r.Require("include_bias", false, expected: false);
        r.Require("attention_layer_norm", false, expected: false);
        r.Require("input_emb_norm", false, expected: false);
        r.Require("scale_logits", false, expected: false);
        r.RequireOneOf("block_type", "llama");
        r.RequireOneOf("layer_norm_type", "rms");
        r.RequireOneOf("activation_type", "silu");

        var hidden = r.RequiredInt("d_model");
        var heads = r.RequiredInt("n_heads");
        var kvHeads = r.Int("n_kv_heads") ?? (r.Bool("multi_query_attention") == true ? 1 : heads);
        var mlp = r.Int("mlp_hidden_size") ?? MlpFromRatio(r, hidden);
        var vocab = r.Int("embedding_size") ?? r.RequiredInt("vocab_size");
        return new ModelConfig
        {
            Layout = Layout.LLaDA,
            HiddenSize = hidden,
            NumLayers = r.RequiredInt("n_layers"),
            NumHeads = heads,
            NumKvHeads = kvHeads,
            IntermediateSize = mlp,
            VocabSize = vocab,
            RopeTheta = r.Double("rope_theta") ?? 10000.0,
            RmsNormEps = r.Double("rms_norm_eps") ?? 1e-5,
            MaxSequenceLength = r.Int("max_sequence_length") ?? 4096,
            MaskTokenId = r.Int("mask_token_id"),
            EosTokenId = r.Int("eos_token_id"),
            PadTokenId = r.Int("pad_token_id"),
            BosTokenId = r.Int("bos_token_id"),
            TieWordEmbeddings = r.Bool("weight_tying") ?? false,
            QkvBias = r.Bool("include_qkv_bias") ?? false,
        };
    }

    /// <summary>LLaDA's MLP size when only <c>mlp_ratio</c> is given, refused when the product does not fit an int (it used to wrap).</summary>
    private static int MlpFromRatio(Reader r, int hidden)
    {
        var ratio = r.Int("mlp_ratio") ?? 4;
        var product = (long)ratio * hidden;
        if (product is > int.MaxValue or < int.MinValue)
            throw new ModelConfigException(r.Source, $"mlp_ratio {ratio} x d_model {hidden} = {product} is too large for an MLP size");
        return (int)product;
    }

    private static ModelConfig ParseDream(Reader r)
    {
        r.RequireOneOf("hidden_act", "silu");
        if (r.Has("rope_scaling") && r.Node("rope_scaling") is not null)
            throw new ModelConfigException(r.Source, "'rope_scaling' is not supported (expected null)");
        if (r.Bool("use_sliding_window") == true)
            throw new ModelConfigException(r.Source, "'use_sliding_window' is not supported (expected false)");
        var heads = r.RequiredInt("num_attention_heads");
        return new ModelConfig
        {
            Layout = Layout.Dream,
            HiddenSize = r.RequiredInt("hidden_size"),
            NumLayers = r.RequiredInt("num_hidden_layers"),
            NumHeads = heads,
            NumKvHeads = r.Int("num_key_value_heads") ?? heads,
            IntermediateSize = r.RequiredInt("intermediate_size"),
            VocabSize = r.RequiredInt("vocab_size"),
            RopeTheta = r.Double("rope_theta") ?? 10000.0,
            RmsNormEps = r.Double("rms_norm_eps") ?? 1e-6,
            MaxSequenceLength = r.Int("max_position_embeddings") ?? 32768,
            MaskTokenId = r.Int("mask_token_id"),
            EosTokenId = r.Int("eos_token_id"),
            PadTokenId = r.Int("pad_token_id"),
            BosTokenId = r.Int("bos_token_id"),
            TieWordEmbeddings = r.Bool("tie_word_embeddings") ?? false,
            QkvBias = true, // Qwen2 attention always has q/k/v biases
        };
    }

    /// <summary>Throws <see cref="ModelConfigException"/> naming <paramref name="source"/> when a value is nonsensical.</summary>
    public void Validate(string source)
    {
        void Positive(string name, long value)
        {
            if (value <= 0) throw new ModelConfigException(source, $"{name} must be positive, got {value}");
        }
        Positive(Key("hidden size", "d_model", "hidden_size"), HiddenSize);
        Positive(Key("layer count", "n_layers", "num_hidden_layers"), NumLayers);
        Positive(Key("head count", "n_heads", "num_attention_heads"), NumHeads);
        Positive(Key("key/value head count", "n_kv_heads", "num_key_value_heads"), NumKvHeads);
        Positive(Key("MLP hidden size", "mlp_hidden_size", "intermediate_size"), IntermediateSize);
        Positive(Key("vocabulary size", "embedding_size/vocab_size", "vocab_size"), VocabSize);
        Positive(Key("maximum sequence length", "max_sequence_length", "max_position_embeddings"), MaxSequenceLength);
        if (HiddenSize % NumHeads != 0)
            throw new ModelConfigException(source, $"hidden size {HiddenSize} is not divisible by the head count {NumHeads}");
        if (NumHeads % NumKvHeads != 0)
            throw new ModelConfigException(source, $"head count {NumHeads} is not divisible by the key/value head count {NumKvHeads}");
        if (HeadDim % 2 != 0)
            throw new ModelConfigException(source, $"head dimension {HeadDim} must be even for rotary embeddings");
        if (!(RopeTheta > 0) || double.IsInfinity(RopeTheta))
            throw new ModelConfigException(source, $"rope_theta must be a positive finite number, got {RopeTheta.ToString(CultureInfo.InvariantCulture)}");
        if (!(RmsNormEps > 0) || double.IsInfinity(RmsNormEps))
            throw new ModelConfigException(source, $"rms_norm_eps must be a positive finite number, got {RmsNormEps.ToString(CultureInfo.InvariantCulture)}");
        foreach (var (name, id) in new[] { ("mask_token_id", MaskTokenId), ("eos_token_id", EosTokenId), ("pad_token_id", PadTokenId), ("bos_token_id", BosTokenId) })
            if (id is { } v && (v < 0 || v >= VocabSize))
                throw new ModelConfigException(source, $"{name} {v} is outside the vocabulary [0, {VocabSize})");
        try
        {
            _ = ParameterCount;
        }
        catch (OverflowException)
        {
            throw new ModelConfigException(source, "sizes are too large: the parameter count overflows");
        }
    }

    private string Key(string what, string lladaKey, string dreamKey) =>
        $"{what} ({(Layout == Layout.LLaDA ? lladaKey : dreamKey)})";

    /// <summary>Number of parameters the config implies (checked arithmetic).</summary>
    public long ParameterCount
    {
        get
        {
            checked
            {
                long h = HiddenSize, q = (long)NumHeads * HeadDim, kv = KvDim, i = IntermediateSize, v = VocabSize;
                var perLayer = 2 * h + h * q + 2 * h * kv + q * h + 3 * h * i + (QkvBias ? q + 2 * kv : 0);
                return v * h * (TieWordEmbeddings ? 1 : 2) + h + NumLayers * perLayer;
            }
        }
    }

    /// <summary>The config.json text in the layout's real HF keys (what <see cref="Parse"/> reads back).</summary>
    public string ToJson()
    {
        var o = new JsonObject();
        if (Layout == Layout.LLaDA)
        {
            o["architectures"] = new JsonArray("LLaDAModelLM");
            o["model_type"] = "llada";
            o["d_model"] = HiddenSize;
            o["n_layers"] = NumLayers;
            o["n_heads"] = NumHeads;
            o["n_kv_heads"] = NumKvHeads;
            o["mlp_hidden_size"] = IntermediateSize;
            o["vocab_size"] = VocabSize;
            o["embedding_size"] = VocabSize;
            o["rope"] = true;
            o["rope_theta"] = RopeTheta;
            o["rms_norm_eps"] = RmsNormEps;
            o["max_sequence_length"] = MaxSequenceLength;
            o["weight_tying"] = TieWordEmbeddings;
            o["include_bias"] = false;
            o["include_qkv_bias"] = QkvBias;
            o["block_type"] = "llama";
            o["layer_norm_type"] = "rms";
            o["activation_type"] = "silu";
            o["alibi"] = false;
        }
        else
        {
            o["architectures"] = new JsonArray("DreamModel");
            o["model_type"] = "Dream";
            o["hidden_size"] = HiddenSize;
            o["num_hidden_layers"] = NumLayers;
            o["num_attention_heads"] = NumHeads;
            o["num_key_value_heads"] = NumKvHeads;
            o["intermediate_size"] = IntermediateSize;
            o["vocab_size"] = VocabSize;
            o["hidden_act"] = "silu";
            o["rope_theta"] = RopeTheta;
            o["rope_scaling"] = null;
            o["rms_norm_eps"] = RmsNormEps;
            o["max_position_embeddings"] = MaxSequenceLength;
            o["tie_word_embeddings"] = TieWordEmbeddings;
            o["use_sliding_window"] = false;
        }
        if (MaskTokenId is { } m) o["mask_token_id"] = m;
        if (EosTokenId is { } e) o["eos_token_id"] = e;
        if (PadTokenId is { } p) o["pad_token_id"] = p;
        if (BosTokenId is { } b) o["bos_token_id"] = b;
        o["torch_dtype"] = "float32";
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>Typed access to config keys with errors that name the key and the file.</summary>
    private sealed class Reader(JsonObject root, string source)
    {
        public string Source => source;

        public bool Has(string key) => root.ContainsKey(key);

        public JsonNode? Node(string key) => root.TryGetPropertyValue(key, out var n) ? n : null;

        public int? Int(string key)
        {
            var n = Node(key);
            if (n is null) return null;
            if (n is JsonValue v && v.GetValueKind() == JsonValueKind.Number)
            {
                if (v.TryGetValue<int>(out var i)) return i;
                if (v.TryGetValue<double>(out var d) && d == Math.Floor(d) && d is >= int.MinValue and <= int.MaxValue) return (int)d;
            }
            throw new ModelConfigException(source, $"'{key}' must be an integer, got {Describe(n)}");
        }

        public int RequiredInt(string key) =>
            Int(key) ?? throw new ModelConfigException(source, $"'{key}' is missing");

        public double? Double(string key)
        {
            var n = Node(key);
            if (n is null) return null;
            if (n is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<double>(out var d)) return d;
            throw new ModelConfigException(source, $"'{key}' must be a number, got {Describe(n)}");
        }

        public bool? Bool(string key)
        {
            var n = Node(key);
            if (n is null) return null;
            if (n is JsonValue v && v.GetValueKind() is JsonValueKind.True or JsonValueKind.False) return v.GetValue<bool>();
            throw new ModelConfigException(source, $"'{key}' must be true or false, got {Describe(n)}");
        }

        public string? String(string key)
        {
            var n = Node(key);
            if (n is null) return null;
            if (n is JsonValue v && v.GetValueKind() == JsonValueKind.String) return v.GetValue<string>();
            throw new ModelConfigException(source, $"'{key}' must be a string, got {Describe(n)}");
        }

        public void Require(string key, bool whenMissing, bool expected)
        {
            if ((Bool(key) ?? whenMissing) != expected)
                throw new ModelConfigException(source, $"'{key}': {(!expected).ToString().ToLowerInvariant()} is not supported (expected {expected.ToString().ToLowerInvariant()})");
        }

        public void RequireOneOf(string key, string expected)
        {
            var s = String(key);
            if (s is not null && !string.Equals(s, expected, StringComparison.OrdinalIgnoreCase))
                throw new ModelConfigException(source, $"'{key}': '{s}' is not supported (expected '{expected}')");
        }

        private static string Describe(JsonNode n)
        {
            var s = n.ToJsonString();
            return s.Length > 40 ? s[..40] + "..." : s;
        }
    }
}
