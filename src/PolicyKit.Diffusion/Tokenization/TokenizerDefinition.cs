using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace PolicyKit.Diffusion.Tokenization;

/// <summary>
/// An entry of <c>added_tokens</c>: matched whole in input text, before the BPE sees it. <c>Special</c> tokens are
/// the ones <see cref="TextTokenizer.Decode"/> can skip; <c>Normalized</c> ones are matched after normalisation,
/// the others in the raw text.
/// </summary>
internal sealed record AddedToken(string Content, int Id, bool Special, bool Normalized);

/// <summary>
/// What PolicyKit reads from an HF <c>tokenizer.json</c>, checked field by field: anything that would make Hugging
/// Face tokenise differently from what PolicyKit does is refused with a message naming the file and the field.
/// </summary>
internal sealed class TokenizerDefinition
{
    public required Dictionary<string, int> Vocab { get; init; }
    public required Dictionary<int, string> IdToToken { get; init; }
    public required List<string> Merges { get; init; }
    public required List<AddedToken> AddedTokens { get; init; }
    public required string SplitPattern { get; init; }
    public required NormalizationForm? Normalization { get; init; }
    public required bool IgnoreMerges { get; init; }

    public static TokenizerDefinition Read(JsonElement root, string path)
    {
        TokenizerException Bad(string problem) => new(path, problem);
        if (root.ValueKind != JsonValueKind.Object) throw Bad("expected a JSON object");
        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
            throw Bad("'model' is missing");
        var type = model.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        if (type != "BPE") throw Bad($"model type '{type ?? "(missing)"}' is not supported (expected 'BPE')");
        if (!model.TryGetProperty("vocab", out var vocabElement) || vocabElement.ValueKind != JsonValueKind.Object)
            throw Bad("'model.vocab' is missing or not an object");

        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        var idToToken = new Dictionary<int, string>();
        foreach (var p in vocabElement.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out var id) || id < 0)
                throw Bad($"vocab entry '{p.Name}' has id {p.Value}, expected a non-negative integer");
            if (!vocab.TryAdd(p.Name, id)) throw Bad($"vocab entry '{p.Name}' appears twice");
            if (!idToToken.TryAdd(id, p.Name)) throw Bad($"vocab id {id} is used by both '{idToToken[id]}' and '{p.Name}'");
        }
        if (vocab.Count == 0) throw Bad("'model.vocab' is empty");

        var merges = ReadMerges(model, vocab, Bad);
        var ignoreMerges = ReadModelOptions(model, Bad);
        var added = ReadAddedTokens(root, idToToken, Bad);

        // The vocabulary size is the largest id + 1, which must fit an int (int.MaxValue made it wrap negative).
        if (idToToken.Keys.Max() == int.MaxValue) throw Bad($"token id {int.MaxValue} is too large for a vocabulary");

        foreach (var key in new[] { "truncation", "padding" })
            if (root.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null)
                throw Bad($"'{key}' is set, but PolicyKit neither truncates nor pads an encoding (it must be null)");

        var pattern = PreTokenizerPattern(root, Bad);
        var normalization = NormalizerFor(root, Bad);
        CheckDecoder(root, Bad);
        // A byte-level BPE must be able to spell every byte; Hugging Face would drop a byte it cannot.
        for (var b = 0; b < 256; b++)
            if (!vocab.ContainsKey(ByteLevelAlphabet.ForByte((byte)b).ToString()))
                throw Bad($"'model.vocab' lacks the byte-level token '{ByteLevelAlphabet.ForByte((byte)b)}' for byte 0x{b:X2}");

        return new TokenizerDefinition
        {
            Vocab = vocab, IdToToken = idToToken, Merges = merges, AddedTokens = added, SplitPattern = pattern,
            Normalization = normalization, IgnoreMerges = ignoreMerges,
        };
    }

    private static List<string> ReadMerges(JsonElement model, Dictionary<string, int> vocab, Func<string, TokenizerException> bad)
    {
        var merges = new List<string>();
        if (!model.TryGetProperty("merges", out var mergesElement) || mergesElement.ValueKind == JsonValueKind.Null) return merges;
        if (mergesElement.ValueKind != JsonValueKind.Array) throw bad("'model.merges' must be an array");
        var n = 0;
        foreach (var m in mergesElement.EnumerateArray())
        {
            n++;
            string left, right;
            if (m.ValueKind == JsonValueKind.String)
            {
                var parts = m.GetString()!.Split(' ');
                if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
                    throw bad($"merge #{n} \"{m.GetString()}\" is not two tokens separated by one space");
                (left, right) = (parts[0], parts[1]);
            }
            else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2 &&
                     m[0].ValueKind == JsonValueKind.String && m[1].ValueKind == JsonValueKind.String)
            {
                (left, right) = (m[0].GetString()!, m[1].GetString()!);
                if (left.Length == 0 || right.Length == 0 || left.Contains(' ') || right.Contains(' '))
                    throw bad($"merge #{n} [\"{left}\", \"{right}\"]: tokens with spaces are not supported by a byte-level BPE");
            }
            else throw bad($"merge #{n} must be \"a b\" or [\"a\", \"b\"]");
            if (!vocab.ContainsKey(left) || !vocab.ContainsKey(right) || !vocab.ContainsKey(left + right))
                throw bad($"merge #{n} ({left} + {right}) uses a token missing from the vocab");
            merges.Add(left + " " + right);
        }
        return merges;
    }

    /// <summary>The BPE options a byte-level model may have; returns <c>ignore_merges</c>.</summary>
    private static bool ReadModelOptions(JsonElement model, Func<string, TokenizerException> bad)
    {
        bool Has(string key, out JsonElement value) =>
            model.TryGetProperty(key, out value) && value.ValueKind != JsonValueKind.Null;
        if (Has("dropout", out var dropout) && !(dropout.ValueKind == JsonValueKind.Number && dropout.GetDouble() == 0))
            throw bad($"'model.dropout' is {dropout}; BPE dropout makes encoding random and is not supported (it must be null)");
        if (Has("unk_token", out var unk))
            throw bad($"'model.unk_token' is {unk}; a byte-level BPE spells every byte and PolicyKit has no unknown token (it must be null)");
        foreach (var key in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            if (Has(key, out var affix) && !(affix.ValueKind == JsonValueKind.String && affix.GetString() == ""))
                throw bad($"'model.{key}' is {affix}; sub-word affixes are not supported (it must be null or \"\")");
        if (Has("byte_fallback", out var fallback) && fallback.ValueKind != JsonValueKind.False)
            throw bad($"'model.byte_fallback' is {fallback}; byte fallback (<0xNN> tokens) is not supported (it must be false)");
        if (!Has("ignore_merges", out var ignore)) return false;
        return ignore.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw bad($"'model.ignore_merges' is {ignore}, expected true or false"),
        };
    }

    private static List<AddedToken> ReadAddedTokens(JsonElement root, Dictionary<int, string> idToToken, Func<string, TokenizerException> bad)
    {
        var result = new List<AddedToken>();
        if (!root.TryGetProperty("added_tokens", out var added) || added.ValueKind == JsonValueKind.Null) return result;
        if (added.ValueKind != JsonValueKind.Array) throw bad("'added_tokens' must be an array");
        var byContent = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var a in added.EnumerateArray())
        {
            if (a.ValueKind != JsonValueKind.Object ||
                !a.TryGetProperty("id", out var idElement) || !idElement.TryGetInt32(out var id) || id < 0 ||
                !a.TryGetProperty("content", out var contentElement) || contentElement.ValueKind != JsonValueKind.String ||
                string.IsNullOrEmpty(contentElement.GetString()))
                throw bad("every added_tokens entry needs a non-negative integer 'id' and a non-empty 'content'");
            var content = contentElement.GetString()!;
            // Hugging Face refuses an entry without any of these flags, and so does PolicyKit.
            bool Flag(string key) =>
                a.TryGetProperty(key, out var f) && f.ValueKind is JsonValueKind.True or JsonValueKind.False
                    ? f.GetBoolean()
                    : throw bad($"added_tokens entry '{content}' needs a true/false '{key}'");
            foreach (var key in new[] { "single_word", "lstrip", "rstrip" })
                if (Flag(key))
                    throw bad($"added_tokens entry '{content}' has \"{key}\": true, which PolicyKit does not support (it must be false)");
            var token = new AddedToken(content, id, Flag("special"), Flag("normalized"));
            if (byContent.TryGetValue(content, out var prior))
            {
                if (prior != id) throw bad($"added token '{content}' has two ids");
                continue;
            }
            if (idToToken.TryGetValue(id, out var existing) && existing != content)
                throw bad($"added token '{content}' reuses id {id} of '{existing}'");
            byContent[content] = id;
            idToToken[id] = content;
            result.Add(token);
        }
        return result;
    }

    /// <summary>
    /// The split regex of the pre-tokenizer: Qwen2/Qwen3/Llama-3/LLaDA use Sequence[Split(Regex), ByteLevel(use_regex=false)],
    /// GPT-2 a bare ByteLevel(use_regex=true). Anything else is refused rather than tokenised differently.
    /// </summary>
    private static string PreTokenizerPattern(JsonElement root, Func<string, TokenizerException> bad)
    {
        if (!root.TryGetProperty("pre_tokenizer", out var pre) || pre.ValueKind == JsonValueKind.Null)
            throw bad("'pre_tokenizer' is missing; a byte-level BPE needs a ByteLevel pre-tokenizer");
        var steps = TypeOf(pre) == "Sequence" && pre.TryGetProperty("pretokenizers", out var seq) && seq.ValueKind == JsonValueKind.Array
            ? seq.EnumerateArray().ToList()
            : [pre];
        string? pattern = null;
        var byteLevel = false;
        foreach (var step in steps)
        {
            switch (TypeOf(step))
            {
                case "Split":
                    if (pattern is not null) throw bad("more than one Split pre-tokenizer is not supported");
                    if (byteLevel) throw bad("a Split pre-tokenizer after ByteLevel is not supported (it would split the byte-level characters)");
                    if (!step.TryGetProperty("pattern", out var p) || p.ValueKind != JsonValueKind.Object ||
                        !p.TryGetProperty("Regex", out var regex) || regex.ValueKind != JsonValueKind.String)
                        throw bad("Split pre-tokenizer needs a {\"Regex\": ...} pattern");
                    if (step.TryGetProperty("behavior", out var behavior) &&
                        !(behavior.ValueKind == JsonValueKind.String && behavior.GetString() == "Isolated"))
                        throw bad($"Split behavior '{behavior}' is not supported (expected 'Isolated')");
                    if (step.TryGetProperty("invert", out var invert) && invert.ValueKind == JsonValueKind.True)
                        throw bad("Split with invert=true is not supported");
                    pattern = CheckPattern(regex.GetString()!, bad);
                    break;
                case "ByteLevel":
                    byteLevel = true;
                    if (step.TryGetProperty("add_prefix_space", out var aps) && aps.ValueKind == JsonValueKind.True)
                        throw bad("ByteLevel add_prefix_space=true is not supported");
                    // trim_offsets only moves offsets, which PolicyKit does not report.
                    var useRegex = !step.TryGetProperty("use_regex", out var ur) || ur.ValueKind != JsonValueKind.False;
                    if (useRegex)
                    {
                        if (pattern is not null) throw bad("ByteLevel use_regex=true after a Split is not supported");
                        pattern = TextTokenizer.Gpt2Pattern;
                    }
                    break;
                default:
                    throw bad($"pre-tokenizer '{TypeOf(step) ?? "(no type)"}' is not supported (expected Split and ByteLevel)");
            }
        }
        if (!byteLevel) throw bad("the pre-tokenizer has no ByteLevel step; only byte-level BPE tokenizers are supported");
        return pattern ?? throw bad("the pre-tokenizer has no split pattern");
    }

    private static string CheckPattern(string pattern, Func<string, TokenizerException> bad)
    {
        bool matchesEmpty;
        try { matchesEmpty = new Regex(pattern, RegexOptions.None, TextTokenizer.SplitRegexTimeout).IsMatch(""); }
        catch (ArgumentException e) { throw bad($"Split regex is not valid: {e.Message}"); }
        // An empty match would never advance the split: Encode could spin forever.
        if (matchesEmpty) throw bad($"Split regex '{pattern}' matches the empty string");
        // Astral code points reach the regex as one stand-in character per category (see CodePointRegexSplitter),
        // so a pattern that names an astral character, or a stand-in itself, would match the wrong text.
        if (pattern.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF') >= 0)
            throw bad("the Split regex names a character outside the Basic Multilingual Plane, which PolicyKit cannot match");
        foreach (var c in CodePointRegexSplitter.Representatives)
            if (pattern.Contains(c))
                throw bad($"the Split regex names U+{(int)c:X4}, which PolicyKit uses to stand for astral code points");
        return pattern;
    }

    private static NormalizationForm? NormalizerFor(JsonElement root, Func<string, TokenizerException> bad)
    {
        if (!root.TryGetProperty("normalizer", out var n) || n.ValueKind == JsonValueKind.Null) return null;
        return TypeOf(n) switch
        {
            "NFC" => NormalizationForm.FormC,
            "NFKC" => NormalizationForm.FormKC,
            "NFD" => NormalizationForm.FormD,
            "NFKD" => NormalizationForm.FormKD,
            var other => throw bad($"normalizer '{other ?? "(no type)"}' is not supported (expected NFC, NFKC, NFD, NFKD or null)"),
        };
    }

    /// <summary>Decoding maps byte-level characters back to bytes; other decoders (or none, which joins tokens with spaces) are refused.</summary>
    private static void CheckDecoder(JsonElement root, Func<string, TokenizerException> bad)
    {
        if (!root.TryGetProperty("decoder", out var d) || d.ValueKind == JsonValueKind.Null)
            throw bad("'decoder' is missing; a byte-level BPE needs the ByteLevel decoder");
        if (TypeOf(d) != "ByteLevel")
            throw bad($"decoder '{TypeOf(d) ?? "(no type)"}' is not supported (expected ByteLevel)");
    }

    private static string? TypeOf(JsonElement e) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
}
