using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace PolicyKit.Diffusion.Tokenization;

/// <summary>
/// The tokenizer that sits next to a checkpoint: an HF <c>tokenizer.json</c> for a byte-level BPE model
/// (GPT-2, Qwen2/Dream, LLaDA), built into a Microsoft.ML.Tokenizers <see cref="BpeTokenizer"/>, plus the
/// special token ids the samplers need. Immutable and safe to use from several threads.
/// </summary>
public sealed class TextTokenizer
{
    public const string FileName = "tokenizer.json";
    public const string ConfigFileName = "tokenizer_config.json";

    /// <summary>The regex GPT-2's ByteLevel pre-tokenizer uses when <c>use_regex</c> is true.</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>Names mask tokens go by in the model families we load (LLaDA, Dream, BERT-like).</summary>
    private static readonly string[] MaskTokenNames = ["<|mdm_mask|>", "<|mask|>", "[MASK]", "<mask>"];
    private static readonly string[] EosTokenNames = ["<|endoftext|>", "<|eot_id|>", "</s>", "<|im_end|>"];

    private readonly BpeTokenizer _bpe;
    private readonly Dictionary<int, string> _idToToken;
    private readonly string _source;

    /// <summary>
    /// The longest one match of the pre-tokenizer's split regex may take. The regex comes from the file, and a
    /// hostile one (e.g. <c>^(\w+\s?)*$</c>) backtracks for exponential time; real patterns match in microseconds.
    /// </summary>
    public static TimeSpan SplitRegexTimeout { get; } = TimeSpan.FromSeconds(2);

    private TextTokenizer(string source, BpeTokenizer bpe, IReadOnlyDictionary<string, int> specialTokens, Dictionary<int, string> idToToken,
        int? eos, int? pad, int? bos, int? mask)
    {
        _source = source;
        _bpe = bpe;
        SpecialTokens = specialTokens;
        _idToToken = idToToken;
        EosTokenId = eos;
        PadTokenId = pad;
        BosTokenId = bos;
        MaskTokenId = mask;
        VocabularySize = idToToken.Count == 0 ? 0 : idToToken.Keys.Max() + 1;
    }

    /// <summary>Added/special tokens (content → id); they are matched whole in input text.</summary>
    public IReadOnlyDictionary<string, int> SpecialTokens { get; }
    public int? MaskTokenId { get; }
    public int? EosTokenId { get; }
    public int? PadTokenId { get; }
    public int? BosTokenId { get; }
    /// <summary>One more than the largest id the tokenizer knows (the model's vocabulary may be larger).</summary>
    public int VocabularySize { get; }

    /// <summary>The underlying Microsoft.ML.Tokenizers tokenizer.</summary>
    public Tokenizer Inner => _bpe;

    /// <exception cref="TokenizerException">The file's split regex timed out on <paramref name="text"/>.</exception>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        try
        {
            return [.. _bpe.EncodeToIds(text)];
        }
        catch (RegexMatchTimeoutException e)
        {
            throw new TokenizerException(_source,
                $"the pre-tokenizer's split regex timed out after {SplitRegexTimeout.TotalSeconds:0.#} s on a {text.Length}-character input (catastrophic backtracking)", e);
        }
    }

    /// <summary>Decodes ids to text. Ids the tokenizer does not know (padding rows of a larger model vocabulary) are skipped.</summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var known = ids.Where(id => _idToToken.ContainsKey(id) && !(skipSpecialTokens && IsSpecial(id)));
        return _bpe.Decode(known, considerSpecialTokens: !skipSpecialTokens);
    }

    public bool IsSpecial(int id) => _idToToken.TryGetValue(id, out var t) && SpecialTokens.ContainsKey(t);

    public int? TokenToId(string token) =>
        SpecialTokens.TryGetValue(token, out var s) ? s : _bpe.Vocabulary.TryGetValue(token, out var v) ? v : null;

    public string? IdToToken(int id) => _idToToken.GetValueOrDefault(id);

    /// <summary>Loads <c>tokenizer.json</c> (and <c>tokenizer_config.json</c> when present) from a checkpoint directory.</summary>
    public static TextTokenizer Load(string directory)
    {
        var path = Path.Combine(directory, FileName);
        if (!File.Exists(path)) throw new TokenizerException(path, "file not found");
        var configPath = Path.Combine(directory, ConfigFileName);
        return FromFiles(path, File.Exists(configPath) ? configPath : null);
    }

    /// <summary>Builds a tokenizer from an HF <c>tokenizer.json</c> and an optional <c>tokenizer_config.json</c>.</summary>
    public static TextTokenizer FromFiles(string tokenizerJsonPath, string? tokenizerConfigPath = null)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(tokenizerJsonPath); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TokenizerException(tokenizerJsonPath, $"cannot read: {e.Message}", e);
        }
        if (!System.Text.Unicode.Utf8.IsValid(bytes)) throw new TokenizerException(tokenizerJsonPath, "not valid UTF-8");
        var named = ReadTokenizerConfig(tokenizerConfigPath);
        try
        {
            using var doc = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 64 });
            return Build(doc.RootElement, tokenizerJsonPath, named);
        }
        catch (JsonException e)
        {
            throw new TokenizerException(tokenizerJsonPath, $"not valid JSON: {e.Message}", e);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException or KeyNotFoundException)
        {
            // Microsoft.ML.Tokenizers rejects inconsistent vocabularies/merges with these.
            throw new TokenizerException(tokenizerJsonPath, $"cannot build the BPE tokenizer: {e.Message}", e);
        }
    }

    private static TextTokenizer Build(JsonElement root, string path, Dictionary<string, string> named)
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

        var merges = new List<string>();
        if (model.TryGetProperty("merges", out var mergesElement) && mergesElement.ValueKind != JsonValueKind.Null)
        {
            if (mergesElement.ValueKind != JsonValueKind.Array) throw Bad("'model.merges' must be an array");
            var n = 0;
            foreach (var m in mergesElement.EnumerateArray())
            {
                n++;
                string left, right;
                if (m.ValueKind == JsonValueKind.String)
                {
                    var parts = m.GetString()!.Split(' ');
                    if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
                        throw Bad($"merge #{n} \"{m.GetString()}\" is not two tokens separated by one space");
                    (left, right) = (parts[0], parts[1]);
                }
                else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2 &&
                         m[0].ValueKind == JsonValueKind.String && m[1].ValueKind == JsonValueKind.String)
                {
                    (left, right) = (m[0].GetString()!, m[1].GetString()!);
                    if (left.Length == 0 || right.Length == 0 || left.Contains(' ') || right.Contains(' '))
                        throw Bad($"merge #{n} [\"{left}\", \"{right}\"]: tokens with spaces are not supported by a byte-level BPE");
                }
                else throw Bad($"merge #{n} must be \"a b\" or [\"a\", \"b\"]");
                if (!vocab.ContainsKey(left) || !vocab.ContainsKey(right) || !vocab.ContainsKey(left + right))
                    throw Bad($"merge #{n} ({left} + {right}) uses a token missing from the vocab");
                merges.Add(left + " " + right);
            }
        }

        var special = new Dictionary<string, int>(StringComparer.Ordinal);
        if (root.TryGetProperty("added_tokens", out var added) && added.ValueKind != JsonValueKind.Null)
        {
            if (added.ValueKind != JsonValueKind.Array) throw Bad("'added_tokens' must be an array");
            foreach (var a in added.EnumerateArray())
            {
                if (a.ValueKind != JsonValueKind.Object ||
                    !a.TryGetProperty("id", out var idElement) || !idElement.TryGetInt32(out var id) || id < 0 ||
                    !a.TryGetProperty("content", out var contentElement) || contentElement.ValueKind != JsonValueKind.String ||
                    string.IsNullOrEmpty(contentElement.GetString()))
                    throw Bad("every added_tokens entry needs a non-negative integer 'id' and a non-empty 'content'");
                var content = contentElement.GetString()!;
                if (special.TryGetValue(content, out var prior) && prior != id) throw Bad($"added token '{content}' has two ids");
                if (idToToken.TryGetValue(id, out var existing) && existing != content)
                    throw Bad($"added token '{content}' reuses id {id} of '{existing}'");
                special[content] = id;
                idToToken[id] = content;
            }
        }

        // The vocabulary size is the largest id + 1, which must fit an int (int.MaxValue made it wrap negative).
        if (idToToken.Keys.Max() == int.MaxValue) throw Bad($"token id {int.MaxValue} is too large for a vocabulary");

        var pattern = PreTokenizerPattern(root, Bad);
        var options = new BpeOptions(vocab.Where(kv => !special.ContainsKey(kv.Key)))
        {
            Merges = merges,
            SpecialTokens = special,
            ByteLevel = true,
            PreTokenizer = new EmptyMatchGuard(new RegexPreTokenizer(new Regex(pattern, RegexOptions.CultureInvariant, SplitRegexTimeout), special), path),
            Normalizer = NormalizerFor(root, Bad),
        };
        var bpe = BpeTokenizer.Create(options);

        int? Named(string key, string[] fallbacks)
        {
            if (named.TryGetValue(key, out var content))
                return special.TryGetValue(content, out var id) ? id : vocab.TryGetValue(content, out id) ? id
                    : throw Bad($"{ConfigFileName} names {key} '{content}', which is not a token");
            foreach (var f in fallbacks)
                if (special.TryGetValue(f, out var id)) return id;
            return null;
        }
        return new TextTokenizer(path, bpe, special, idToToken,
            eos: Named("eos_token", EosTokenNames),
            pad: Named("pad_token", []),
            bos: Named("bos_token", []),
            mask: Named("mask_token", MaskTokenNames));
    }

    /// <summary>
    /// The split regex of the pre-tokenizer: Qwen2/LLaDA use Sequence[Split(Regex), ByteLevel(use_regex=false)],
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
                    if (!step.TryGetProperty("pattern", out var p) || p.ValueKind != JsonValueKind.Object ||
                        !p.TryGetProperty("Regex", out var regex) || regex.ValueKind != JsonValueKind.String)
                        throw bad("Split pre-tokenizer needs a {\"Regex\": ...} pattern");
                    if (step.TryGetProperty("behavior", out var behavior) && behavior.GetString() != "Isolated")
                        throw bad($"Split behavior '{behavior}' is not supported (expected 'Isolated')");
                    if (step.TryGetProperty("invert", out var invert) && invert.ValueKind == JsonValueKind.True)
                        throw bad("Split with invert=true is not supported");
                    pattern = regex.GetString()!;
                    bool matchesEmpty;
                    try { matchesEmpty = new Regex(pattern, RegexOptions.None, SplitRegexTimeout).IsMatch(""); }
                    catch (ArgumentException e) { throw bad($"Split regex is not valid: {e.Message}"); }
                    // The library's split loop never advances past an empty match: Encode would spin forever.
                    if (matchesEmpty) throw bad($"Split regex '{pattern}' matches the empty string");
                    break;
                case "ByteLevel":
                    byteLevel = true;
                    if (step.TryGetProperty("add_prefix_space", out var aps) && aps.ValueKind == JsonValueKind.True)
                        throw bad("ByteLevel add_prefix_space=true is not supported");
                    var useRegex = !step.TryGetProperty("use_regex", out var ur) || ur.ValueKind != JsonValueKind.False;
                    if (useRegex)
                    {
                        if (pattern is not null) throw bad("ByteLevel use_regex=true after a Split is not supported");
                        pattern = Gpt2Pattern;
                    }
                    break;
                default:
                    throw bad($"pre-tokenizer '{TypeOf(step) ?? "(no type)"}' is not supported (expected Split and ByteLevel)");
            }
        }
        if (!byteLevel) throw bad("the pre-tokenizer has no ByteLevel step; only byte-level BPE tokenizers are supported");
        return pattern ?? throw bad("the pre-tokenizer has no split pattern");
    }

    private static Normalizer? NormalizerFor(JsonElement root, Func<string, TokenizerException> bad)
    {
        if (!root.TryGetProperty("normalizer", out var n) || n.ValueKind == JsonValueKind.Null) return null;
        return TypeOf(n) switch
        {
            "NFC" => new UnicodeNormalizer(NormalizationForm.FormC),
            "NFKC" => new UnicodeNormalizer(NormalizationForm.FormKC),
            var other => throw bad($"normalizer '{other ?? "(no type)"}' is not supported (expected NFC, NFKC or null)"),
        };
    }

    private static string? TypeOf(JsonElement e) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;

    /// <summary>Reads eos/pad/bos/mask token names from tokenizer_config.json (string or {"content": ...}).</summary>
    private static Dictionary<string, string> ReadTokenizerConfig(string? path)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (path is null) return result;
        try
        {
            var bytes = File.ReadAllBytes(path);
            if (!System.Text.Unicode.Utf8.IsValid(bytes)) throw new TokenizerException(path, "not valid UTF-8");
            using var doc = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 64 });
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new TokenizerException(path, "expected a JSON object");
            foreach (var key in new[] { "eos_token", "pad_token", "bos_token", "mask_token" })
            {
                if (!doc.RootElement.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) continue;
                var content = v.ValueKind == JsonValueKind.String ? v.GetString()
                    : v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()
                    : throw new TokenizerException(path, $"'{key}' must be a string or an object with 'content'");
                result[key] = content!;
            }
            return result;
        }
        catch (JsonException e)
        {
            throw new TokenizerException(path, $"not valid JSON: {e.Message}", e);
        }
        catch (InvalidOperationException e)
        {
            // An escaped lone surrogate ("\ud800") parses, but reading it as a string throws this.
            throw new TokenizerException(path, $"holds a string that is not valid Unicode: {e.Message}", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TokenizerException(path, $"cannot read: {e.Message}", e);
        }
    }

    /// <summary>
    /// Refuses a zero-length split. Microsoft.ML.Tokenizers' split loop restarts at the end of the last match, so
    /// an empty match (a pattern such as <c>\b</c> that matches empty only in context, which the load-time check
    /// cannot see) repeats forever; this turns that hang into an error naming the file.
    /// </summary>
    private sealed class EmptyMatchGuard(PreTokenizer inner, string source) : PreTokenizer
    {
        public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) => Guard(inner.PreTokenize(text));

        public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) => Guard(inner.PreTokenize(text));

        private IEnumerable<(int Offset, int Length)> Guard(IEnumerable<(int Offset, int Length)> splits)
        {
            foreach (var split in splits)
            {
                if (split.Length == 0)
                    throw new TokenizerException(source, $"the pre-tokenizer's split regex matched the empty string at offset {split.Offset}");
                yield return split;
            }
        }
    }

    private sealed class UnicodeNormalizer(NormalizationForm form) : Normalizer
    {
        public override string Normalize(string original) => original.Normalize(form);
        public override string Normalize(ReadOnlySpan<char> original) => original.ToString().Normalize(form);
    }
}
