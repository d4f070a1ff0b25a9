using System.Text.Json;
using System.Text.Json.Nodes;

namespace PolicyKit.Diffusion.Tokenization;

/// <summary>What <see cref="ByteLevelTokenizerWriter.Write"/> produced: the size and the special ids.</summary>
public sealed record WrittenTokenizer(int TokenCount, IReadOnlyDictionary<string, int> SpecialTokens);

/// <summary>
/// Writes a small byte-level BPE <c>tokenizer.json</c> in the HF format: the 256 byte tokens (id = byte value),
/// one token per merge, then the special tokens, with a Qwen2-style pre-tokenizer
/// (Split on the Qwen2 regex, then ByteLevel). Used for random checkpoints and tests.
/// </summary>
public static class ByteLevelTokenizerWriter
{
    /// <summary>The split regex of Qwen2's tokenizer.json (also what Dream ships).</summary>
    public const string Qwen2Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>A few common English merges, in vocabulary characters ('Ġ' is a space).</summary>
    public static IReadOnlyList<(string Left, string Right)> DefaultMerges { get; } =
    [
        ("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("e", "r"), ("o", "n"), ("Ġ", "s"),
        ("r", "e"), ("a", "t"), ("e", "n"), ("n", "d"), ("Ġa", "nd"), ("i", "s"), ("o", "u"), ("Ġ", "w"),
        ("Ġ", "o"), ("Ġo", "f"), ("n", "g"), ("i", "ng"), ("Ġ", "i"), ("Ġi", "s"), ("e", "s"), ("o", "r"),
    ];

    /// <summary>Writes tokenizer.json; <paramref name="mergesAsArrays"/> picks the newer [a, b] merge form over "a b".</summary>
    public static WrittenTokenizer Write(string path, IEnumerable<(string Left, string Right)> merges,
        IEnumerable<string> specialTokens, bool mergesAsArrays = false, bool nfcNormalizer = false)
    {
        var vocab = new JsonObject();
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        void Add(string token)
        {
            if (ids.ContainsKey(token)) return;
            ids[token] = ids.Count;
            vocab[token] = ids[token];
        }
        for (var b = 0; b < 256; b++) Add(ByteLevelAlphabet.ForByte((byte)b).ToString());

        var mergeArray = new JsonArray();
        foreach (var (left, right) in merges)
        {
            if (!ids.ContainsKey(left) || !ids.ContainsKey(right))
                throw new ArgumentException($"merge ({left}, {right}) uses a token that no earlier merge produced", nameof(merges));
            Add(left + right);
            mergeArray.Add(mergesAsArrays ? new JsonArray(left, right) : (JsonNode)(left + " " + right));
        }

        var added = new JsonArray();
        var special = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var token in specialTokens)
        {
            var id = ids.Count + special.Count;
            if (!special.TryAdd(token, id)) throw new ArgumentException($"special token '{token}' given twice", nameof(specialTokens));
            added.Add(new JsonObject
            {
                ["id"] = id, ["content"] = token, ["single_word"] = false, ["lstrip"] = false,
                ["rstrip"] = false, ["normalized"] = false, ["special"] = true,
            });
        }

        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = added,
            ["normalizer"] = nfcNormalizer ? new JsonObject { ["type"] = "NFC" } : null,
            ["pre_tokenizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["pretokenizers"] = new JsonArray(
                    new JsonObject
                    {
                        ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = Qwen2Pattern },
                        ["behavior"] = "Isolated", ["invert"] = false,
                    },
                    new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = false, ["use_regex"] = false }),
            },
            ["post_processor"] = null,
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = false, ["use_regex"] = false },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["continuing_subword_prefix"] = "",
                ["end_of_word_suffix"] = "", ["fuse_unk"] = false, ["byte_fallback"] = false,
                ["vocab"] = vocab, ["merges"] = mergeArray,
            },
        };
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.WriteAllText(path, root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return new WrittenTokenizer(ids.Count + special.Count, special);
    }

    /// <summary>Writes a tokenizer_config.json naming the eos/pad (and optionally mask) tokens, as HF checkpoints do.</summary>
    public static void WriteConfig(string path, string? eosToken, string? padToken, string? maskToken = null)
    {
        var o = new JsonObject { ["tokenizer_class"] = "PreTrainedTokenizerFast" };
        if (eosToken is not null) o["eos_token"] = eosToken;
        if (padToken is not null) o["pad_token"] = padToken;
        if (maskToken is not null) o["mask_token"] = maskToken;
        File.WriteAllText(path, o.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }
}
