using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace PolicyKit.Diffusion.Tokenization;

/// <summary>
/// The tokenizer that sits next to a checkpoint: an HF <c>tokenizer.json</c> for a byte-level BPE model (GPT-2,
/// Qwen2/Qwen3/Dream, Llama-3, LLaDA) that encodes and decodes exactly as Hugging Face's tokenizers does, plus the
/// special token ids the samplers need. Immutable and safe to use from several threads.
/// </summary>
/// <remarks>
/// <para>Encoding follows Hugging Face's pipeline: added tokens are cut out of the raw text first (those marked
/// <c>"normalized": true</c> after normalisation), the rest is normalised (NFC/NFKC/...), split by the
/// pre-tokenizer's regex over code points, and each word is BPE-merged by Microsoft.ML.Tokenizers, or, with
/// <c>"ignore_merges": true</c>, taken whole when it is a vocabulary entry. The result is
/// <c>encode(text, add_special_tokens=False)</c>: the <c>post_processor</c> only adds special tokens (BOS/EOS
/// templates), which <see cref="Encode"/> never adds; use <see cref="BosTokenId"/> where a model wants one.</para>
/// <para>A field of <c>tokenizer.json</c> that would change the ids and that PolicyKit cannot honour is refused at
/// load with a <see cref="TokenizerException"/> naming the file and the field.</para>
/// </remarks>
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
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _vocabBySpan;
    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<int, string> _idToToken;
    private readonly Dictionary<int, AddedToken> _addedById;
    private readonly AddedTokenSplitter _rawAddedTokens;
    private readonly AddedTokenSplitter _normalizedAddedTokens;
    private readonly CodePointRegexSplitter _preTokenizer;
    private readonly NormalizationForm? _normalization;
    private readonly bool _ignoreMerges;
    private readonly string _source;

    /// <summary>
    /// The longest one match of the pre-tokenizer's split regex may take. The regex comes from the file, and a
    /// hostile one (e.g. <c>^(\w+\s?)*$</c>) backtracks for exponential time; real patterns match in microseconds.
    /// </summary>
    public static TimeSpan SplitRegexTimeout { get; } = TimeSpan.FromSeconds(2);

    private TextTokenizer(string source, TokenizerDefinition definition, Dictionary<string, string> named)
    {
        _source = source;
        _vocab = definition.Vocab;
        _vocabBySpan = _vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        _idToToken = definition.IdToToken;
        _normalization = definition.Normalization;
        _ignoreMerges = definition.IgnoreMerges;
        // Microsoft.ML.Tokenizers does the merges. Added tokens, normalisation and the split are done here, in
        // Hugging Face's order, so the library gets one pre-tokenized word at a time.
        _bpe = BpeTokenizer.Create(new BpeOptions(_vocab) { Merges = definition.Merges, ByteLevel = true });
        _preTokenizer = new CodePointRegexSplitter(
            new Regex(definition.SplitPattern, RegexOptions.CultureInvariant | RegexOptions.Compiled, SplitRegexTimeout), source);

        var added = definition.AddedTokens;
        _addedById = added.ToDictionary(a => a.Id);
        AddedTokens = added.ToDictionary(a => a.Content, a => a.Id, StringComparer.Ordinal);
        SpecialTokens = added.Where(a => a.Special).ToDictionary(a => a.Content, a => a.Id, StringComparer.Ordinal);
        _rawAddedTokens = new AddedTokenSplitter(added.Where(a => !a.Normalized).Select(a => (a.Content, a.Id)));
        // A "normalized" token is looked for in normalised text, so its own content is normalised the same way.
        _normalizedAddedTokens = new AddedTokenSplitter(added.Where(a => a.Normalized).Select(a => (Normalize(a.Content), a.Id)));

        VocabularySize = _idToToken.Count == 0 ? 0 : _idToToken.Keys.Max() + 1;
        int? Named(string key, string[] fallbacks)
        {
            if (named.TryGetValue(key, out var content))
                return TokenToId(content) ?? throw new TokenizerException(source, $"{ConfigFileName} names {key} '{content}', which is not a token");
            foreach (var f in fallbacks)
                if (AddedTokens.TryGetValue(f, out var id)) return id;
            return null;
        }
        EosTokenId = Named("eos_token", EosTokenNames);
        PadTokenId = Named("pad_token", []);
        BosTokenId = Named("bos_token", []);
        MaskTokenId = Named("mask_token", MaskTokenNames);
    }

    /// <summary>Every entry of <c>added_tokens</c> (content → id); they are matched whole in input text.</summary>
    public IReadOnlyDictionary<string, int> AddedTokens { get; }
    /// <summary>The added tokens marked <c>"special": true</c>: the ones <see cref="Decode"/> skips when asked to.</summary>
    public IReadOnlyDictionary<string, int> SpecialTokens { get; }
    public int? MaskTokenId { get; }
    public int? EosTokenId { get; }
    public int? PadTokenId { get; }
    public int? BosTokenId { get; }
    /// <summary>One more than the largest id the tokenizer knows (the model's vocabulary may be larger).</summary>
    public int VocabularySize { get; }

    /// <summary>
    /// The ids of <paramref name="text"/>, as Hugging Face's <c>encode(text, add_special_tokens=False)</c> gives them.
    /// A lone surrogate counts as U+FFFD, as it does once the text is UTF-8.
    /// </summary>
    /// <exception cref="TokenizerException">The file's split regex timed out on <paramref name="text"/>.</exception>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        text = ReplaceLoneSurrogates(text);
        var ids = new List<int>(text.Length / 3 + 4);
        var rawPieces = new List<(int Offset, int Length, int TokenId)>();
        var pieces = new List<(int Offset, int Length, int TokenId)>();
        var words = new List<(int Offset, int Length)>();
        try
        {
            _rawAddedTokens.Split(text, rawPieces);
            foreach (var raw in rawPieces)
            {
                if (raw.TokenId >= 0)
                {
                    ids.Add(raw.TokenId);
                    continue;
                }
                var normalized = Normalize(text.Substring(raw.Offset, raw.Length));
                _normalizedAddedTokens.Split(normalized, pieces);
                foreach (var piece in pieces)
                {
                    if (piece.TokenId >= 0)
                    {
                        ids.Add(piece.TokenId);
                        continue;
                    }
                    var span = normalized.AsSpan(piece.Offset, piece.Length);
                    _preTokenizer.Split(span, words);
                    foreach (var (offset, length) in words) EncodeWord(span.Slice(offset, length), ids);
                }
            }
        }
        catch (RegexMatchTimeoutException e)
        {
            throw new TokenizerException(_source,
                $"the pre-tokenizer's split regex timed out after {SplitRegexTimeout.TotalSeconds:0.#} s on a {text.Length}-character input (catastrophic backtracking)", e);
        }
        return [.. ids];
    }

    private void EncodeWord(ReadOnlySpan<char> word, List<int> ids)
    {
        // ignore_merges (Llama-3): a word that is a vocabulary entry as a whole is that entry, whatever the merges say.
        if (_ignoreMerges && TryWholeEntry(word, out var id))
        {
            ids.Add(id);
            return;
        }
        ids.AddRange(_bpe.EncodeToIds(word, considerPreTokenization: false, considerNormalization: false));
    }

    private bool TryWholeEntry(ReadOnlySpan<char> word, out int id)
    {
        var byteCount = Encoding.UTF8.GetByteCount(word);
        byte[]? rented = null;
        var bytes = byteCount <= 256 ? stackalloc byte[byteCount] : (rented = ArrayPool<byte>.Shared.Rent(byteCount)).AsSpan(0, byteCount);
        char[]? rentedChars = null;
        var chars = byteCount <= 256 ? stackalloc char[byteCount] : (rentedChars = ArrayPool<char>.Shared.Rent(byteCount)).AsSpan(0, byteCount);
        try
        {
            Encoding.UTF8.GetBytes(word, bytes);
            for (var i = 0; i < bytes.Length; i++) chars[i] = ByteLevelAlphabet.ForByte(bytes[i]);
            return _vocabBySpan.TryGetValue(chars, out id);
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
            if (rentedChars is not null) ArrayPool<char>.Shared.Return(rentedChars);
        }
    }

    private string Normalize(string text) => _normalization is { } form ? text.Normalize(form) : text;

    /// <summary>Well-formed UTF-16 unchanged; each unpaired surrogate becomes U+FFFD (string.Normalize would throw on it).</summary>
    private static string ReplaceLoneSurrogates(string text)
    {
        var first = text.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF');
        if (first < 0) return text;
        char[]? copy = null;
        for (var i = first; i < text.Length; i++)
        {
            if (!char.IsSurrogate(text[i])) continue;
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
                continue;
            }
            (copy ??= text.ToCharArray())[i] = '\uFFFD';
        }
        return copy is null ? text : new string(copy);
    }

    /// <summary>
    /// Decodes ids to text as Hugging Face does: byte-level tokens back to UTF-8 (an incomplete character becomes
    /// U+FFFD), added tokens verbatim, and with <paramref name="skipSpecialTokens"/> the added tokens marked
    /// <c>"special": true</c> left out (others, such as Qwen's <c>&lt;think&gt;</c>, stay). Ids the tokenizer does not
    /// know (padding rows of a larger model vocabulary) are skipped.
    /// </summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var text = new StringBuilder();
        var bytes = new List<byte>();
        void Flush()
        {
            if (bytes.Count == 0) return;
            text.Append(Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes)));
            bytes.Clear();
        }
        foreach (var id in ids)
        {
            if (_addedById.TryGetValue(id, out var added))
            {
                // A skipped token is gone before the bytes are grouped: the bytes on either side join, as in Hugging Face.
                if (skipSpecialTokens && added.Special) continue;
                Flush();
                text.Append(added.Content);
                continue;
            }
            if (!_idToToken.TryGetValue(id, out var token)) continue;
            var start = bytes.Count;
            foreach (var c in token)
            {
                if (ByteLevelAlphabet.TryGetByte(c, out var b)) bytes.Add(b);
                else
                {
                    // Like Hugging Face: a token with a character outside the byte alphabet stands for its own UTF-8.
                    bytes.RemoveRange(start, bytes.Count - start);
                    bytes.AddRange(Encoding.UTF8.GetBytes(token));
                    break;
                }
            }
        }
        Flush();
        return text.ToString();
    }

    /// <summary>Whether <paramref name="id"/> is an added token marked <c>"special": true</c>.</summary>
    public bool IsSpecial(int id) => _addedById.TryGetValue(id, out var a) && a.Special;

    /// <summary>The id of an added token or vocabulary entry (in vocabulary characters, e.g. "Ġthe"), or null.</summary>
    public int? TokenToId(string token) =>
        AddedTokens.TryGetValue(token, out var s) ? s : _vocab.TryGetValue(token, out var v) ? v : null;

    /// <summary>The added token or vocabulary entry with this id, or null.</summary>
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
        TokenizerDefinition definition;
        try
        {
            using var doc = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 64 });
            definition = TokenizerDefinition.Read(doc.RootElement, tokenizerJsonPath);
        }
        catch (JsonException e)
        {
            throw new TokenizerException(tokenizerJsonPath, $"not valid JSON: {e.Message}", e);
        }
        catch (InvalidOperationException e)
        {
            // An escaped lone surrogate ("\ud800") parses, but reading it as a string throws this.
            throw new TokenizerException(tokenizerJsonPath, $"holds a string that is not valid Unicode: {e.Message}", e);
        }
        try
        {
            return new TextTokenizer(tokenizerJsonPath, definition, named);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException or KeyNotFoundException)
        {
            // Microsoft.ML.Tokenizers rejects inconsistent vocabularies/merges with these.
            throw new TokenizerException(tokenizerJsonPath, $"cannot build the BPE tokenizer: {e.Message}", e);
        }
    }

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
}
