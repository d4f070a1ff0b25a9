using System.Text;
using System.Text.Json.Nodes;
using FsCheck;
using FsCheck.Fluent;
using PolicyKit.Diffusion.Tokenization;
using Xunit.Abstractions;

namespace PolicyKit.Diffusion.Tests.Reliability;

public enum TokenizerEditKind
{
    RemoveKey, ModelType, VocabId, VocabDuplicateId, VocabRemove, VocabHugeId, Merge, MergesNotArray, AddedToken,
    PreTokenizer, Normalizer, ConfigToken, FlipByte, Truncate, ModelOption, AddedTokenFlag, RootField,
}

public sealed record TokenizerEdit(TokenizerEditKind Kind, int A, int B)
{
    public override string ToString() => $"{Kind}({A},{B})";
}

public sealed record TokenizerCase(bool MergesAsArrays, bool Nfc, TokenizerEdit[] Edits)
{
    public override string ToString() => $"arrays={MergesAsArrays} nfc={Nfc} edits [{string.Join(", ", Edits.Select(e => e.ToString()))}]";
}

/// <summary>
/// Property tests of the tokenizer loader: a valid byte-level BPE tokenizer.json (and tokenizer_config.json)
/// edited in its vocabulary, merges, added tokens, pre-tokenizer and normalizer, or in its bytes, either loads
/// into a tokenizer that encodes and decodes text with ids inside its vocabulary, or throws
/// <see cref="TokenizerException"/> naming the file at fault.
/// </summary>
public class TokenizerFuzzTests(ITestOutputHelper output)
{
    // Raw JSON spliced in for a value (so that lone-surrogate escapes survive the writer).
    private static readonly string[] Hostile =
    [
        "-1", "0", "2147483647", "2147483648", "1.5", "\"7\"", "null", "true", "[]", "{}", "\"\"", "\"\\ud800\"",
        "\"a\"", "\"a b c\"", "[\"a\"]", "[\"Ġ\", \"zz\"]", "[\"a b\", \"c\"]", "\"(\"", "\"[\"", "\"Split\"", "\"ByteLevel\"",
        "\"WordPiece\"", "\"NFC\"", "\"Lowercase\"", "\"Isolated\"", "\"Removed\"", "3", "false", "{\"type\": \"ByteLevel\"}",
    ];

    private static readonly string[] RemovableKeys = ["model", "added_tokens", "pre_tokenizer", "normalizer", "model.type", "model.vocab", "model.merges"];

    private static readonly string[] SampleTexts = ["the cat sat on the mat", "Hello, World! 123", "é 名前 \u00e9\u0301", " ", "<|endoftext|> and <|mask|>", "a\nb\r\n\tc", "𝟏𝟐 𞤀's 👨‍👩‍👧 ing"];

    private static readonly string[] ModelOptions = ["dropout", "unk_token", "continuing_subword_prefix", "end_of_word_suffix", "byte_fallback", "ignore_merges", "fuse_unk"];
    private static readonly string[] AddedTokenFlags = ["single_word", "lstrip", "rstrip", "normalized", "special"];
    private static readonly string[] RootFields = ["truncation", "padding", "decoder", "post_processor"];

    private static readonly Gen<TokenizerEdit> AnyEdit =
        from kind in Gen.Elements(Enum.GetValues<TokenizerEditKind>())
        from a in Gen.Choose(0, 1 << 20)
        from b in Gen.Choose(0, 1 << 20)
        select new TokenizerEdit(kind, a, b);

    private static readonly Gen<TokenizerCase> Cases =
        from arrays in Gen.Elements(true, false)
        from nfc in Gen.Elements(true, false)
        from edits in Gen.Frequency((1, Gen.Constant(Array.Empty<TokenizerEdit>())), (9, Gen.Choose(1, 3).SelectMany(n => AnyEdit.ArrayOf(n))))
        select new TokenizerCase(arrays, nfc, edits);

    private static string Marker(int i) => $"HOSTILE_{i % Hostile.Length}_";

    private static string Splice(string text)
    {
        for (var i = 0; i < Hostile.Length; i++) text = text.Replace($"\"{Marker(i)}\"", Hostile[i]);
        return text;
    }

    private static readonly Dictionary<(bool, bool), string> s_originals = [];

    /// <summary>The unedited tokenizer.json text, written once per variant.</summary>
    private static string Original(bool mergesAsArrays, bool nfc)
    {
        lock (s_originals)
        {
            if (s_originals.TryGetValue((mergesAsArrays, nfc), out var text)) return text;
            using var dir = new TempDir();
            ByteLevelTokenizerWriter.Write(dir.File("t.json"), ByteLevelTokenizerWriter.DefaultMerges, ["<|endoftext|>", "<|mask|>"], mergesAsArrays, nfc);
            return s_originals[(mergesAsArrays, nfc)] = File.ReadAllText(dir.File("t.json"));
        }
    }

    /// <summary>Writes the edited tokenizer.json and tokenizer_config.json into <paramref name="dir"/>.</summary>
    private static void Write(TempDir dir, TokenizerCase c)
    {
        var path = dir.File(TextTokenizer.FileName);
        var root = (JsonObject)JsonNode.Parse(Original(c.MergesAsArrays, c.Nfc))!;
        var config = new JsonObject { ["eos_token"] = "<|endoftext|>", ["pad_token"] = "<|endoftext|>" };
        foreach (var e in c.Edits) Edit(root, config, e);
        var bytes = Encoding.UTF8.GetBytes(Splice(root.ToJsonString()));
        foreach (var e in c.Edits)
        {
            if (e.Kind == TokenizerEditKind.FlipByte && bytes.Length > 0) bytes[e.A % bytes.Length] ^= (byte)(1 << (e.B % 8));
            if (e.Kind == TokenizerEditKind.Truncate) bytes = bytes[..(e.A % (bytes.Length + 1))];
        }
        File.WriteAllBytes(path, bytes);
        File.WriteAllText(dir.File(TextTokenizer.ConfigFileName), Splice(config.ToJsonString()));
    }

    private static void Edit(JsonObject root, JsonObject config, TokenizerEdit e)
    {
        var model = root["model"] as JsonObject;
        var vocab = model?["vocab"] as JsonObject;
        var merges = model?["merges"] as JsonArray;
        var added = root["added_tokens"] as JsonArray;
        switch (e.Kind)
        {
            case TokenizerEditKind.RemoveKey:
                var key = RemovableKeys[e.A % RemovableKeys.Length];
                if (key.StartsWith("model.", StringComparison.Ordinal)) model?.Remove(key["model.".Length..]);
                else root.Remove(key);
                break;
            case TokenizerEditKind.ModelType when model is not null:
                model["type"] = Marker(e.B);
                break;
            case TokenizerEditKind.VocabId when vocab is { Count: > 0 }:
                vocab[vocab.ElementAt(e.A % vocab.Count).Key] = Marker(e.B);
                break;
            case TokenizerEditKind.VocabDuplicateId when vocab is { Count: > 1 }:
                vocab[vocab.ElementAt(e.A % vocab.Count).Key] = vocab.ElementAt(e.B % vocab.Count).Value!.DeepClone();
                break;
            case TokenizerEditKind.VocabRemove when vocab is { Count: > 0 }:
                vocab.Remove(vocab.ElementAt(e.A % vocab.Count).Key);
                break;
            case TokenizerEditKind.VocabHugeId when vocab is not null:
                // An id far past the rest: the vocabulary size derived from it must neither overflow nor be trusted blindly.
                vocab["huge" + e.A] = new[] { int.MaxValue, int.MaxValue - 1, 1 << 30, 100_000 }[e.B % 4];
                break;
            case TokenizerEditKind.Merge when merges is { Count: > 0 }:
                merges[e.A % merges.Count] = Marker(e.B);
                break;
            case TokenizerEditKind.MergesNotArray when model is not null:
                model["merges"] = Marker(e.B);
                break;
            case TokenizerEditKind.AddedToken when added is { Count: > 0 }:
                var token = added[e.A % added.Count] as JsonObject;
                if (token is not null) token[(e.B % 3) switch { 0 => "id", 1 => "content", _ => "special" }] = Marker(e.B / 3);
                else added[e.A % added.Count] = Marker(e.B);
                break;
            case TokenizerEditKind.PreTokenizer:
                var steps = (root["pre_tokenizer"] as JsonObject)?["pretokenizers"] as JsonArray;
                switch (e.A % 5)
                {
                    case 0: root["pre_tokenizer"] = Marker(e.B); break;
                    case 1 when steps is { Count: > 0 }: steps[0]!["pattern"] = new JsonObject { ["Regex"] = Marker(e.B) }; break;
                    case 2 when steps is { Count: > 0 }: steps[0]!["behavior"] = Marker(e.B); break;
                    case 3 when steps is { Count: > 1 }: steps[1]!["add_prefix_space"] = e.B % 2 == 0; steps[1]!["use_regex"] = e.B % 3 == 0; break;
                    case 4 when steps is { Count: > 0 }: steps.RemoveAt(e.B % steps.Count); break;
                }
                break;
            case TokenizerEditKind.Normalizer:
                root["normalizer"] = e.A % 2 == 0 ? Marker(e.B) : new JsonObject { ["type"] = Marker(e.B) };
                break;
            case TokenizerEditKind.ModelOption when model is not null:
                model[ModelOptions[e.A % ModelOptions.Length]] = Marker(e.B);
                break;
            case TokenizerEditKind.AddedTokenFlag when added is { Count: > 0 } && added[e.A % added.Count] is JsonObject flagged:
                // Half the time a plain true/false, which the loader must either honour or refuse by name.
                flagged[AddedTokenFlags[e.B % AddedTokenFlags.Length]] = e.B % 4 < 2 ? e.B % 2 == 0 : Marker(e.B / 4);
                break;
            case TokenizerEditKind.RootField:
                root[RootFields[e.A % RootFields.Length]] = e.B % 3 == 0 ? null : Marker(e.B);
                break;
            case TokenizerEditKind.ConfigToken:
                config[new[] { "eos_token", "pad_token", "bos_token", "mask_token" }[e.A % 4]] =
                    e.B % 2 == 0 ? Marker(e.B / 2) : new JsonObject { ["content"] = Marker(e.B / 2) };
                break;
        }
    }

    [Fact]
    public void A_token_id_of_int_max_is_refused_instead_of_wrapping_the_vocabulary_size_negative()
    {
        // Found by the fuzz test: the vocabulary size (largest id + 1) overflowed to int.MinValue and the load succeeded.
        using var dir = new TempDir();
        var root = (JsonObject)JsonNode.Parse(Original(false, false))!;
        root["model"]!["vocab"]!["huge"] = int.MaxValue;
        File.WriteAllText(dir.File(TextTokenizer.FileName), root.ToJsonString());
        var e = Assert.Throws<TokenizerException>(() => TextTokenizer.Load(dir.Path));
        Assert.Equal(dir.File(TextTokenizer.FileName), e.File);
        Assert.Contains("too large", e.Message);
    }

    [Fact]
    public void A_tokenizer_config_escaping_a_lone_surrogate_is_refused_with_a_tokenizer_exception_naming_it()
    {
        // Found by the fuzz test: reading "\ud800" as the eos token threw a bare InvalidOperationException.
        using var dir = new TempDir();
        File.WriteAllText(dir.File(TextTokenizer.FileName), Original(false, false));
        File.WriteAllText(dir.File(TextTokenizer.ConfigFileName), "{\"eos_token\": \"\\ud800\"}");
        var e = Assert.Throws<TokenizerException>(() => TextTokenizer.Load(dir.Path));
        Assert.Equal(dir.File(TextTokenizer.ConfigFileName), e.File);
    }

    [Theory]
    [InlineData(@"a*")]
    [InlineData(@"^(\w+\s?)*$")]
    public void A_split_regex_that_matches_the_empty_string_is_refused_at_load(string pattern)
    {
        // Found while testing the timeout below: Microsoft.ML.Tokenizers' split loop does not advance past an
        // empty match, so Encode spun forever (even on "ab") with such a pattern.
        using var dir = new TempDir();
        var root = (JsonObject)JsonNode.Parse(Original(false, false))!;
        root["pre_tokenizer"]!["pretokenizers"]![0]!["pattern"] = new JsonObject { ["Regex"] = pattern };
        File.WriteAllText(dir.File(TextTokenizer.FileName), root.ToJsonString());
        var e = Assert.Throws<TokenizerException>(() => TextTokenizer.Load(dir.Path));
        Assert.Equal(dir.File(TextTokenizer.FileName), e.File);
        Assert.Contains("empty string", e.Message);
    }

    /// <summary>Loads the test tokenizer with <paramref name="pattern"/> as its split regex and encodes <paramref name="text"/> on another thread.</summary>
    private static Exception? EncodeWith(string pattern, string text, out string file)
    {
        using var dir = new TempDir();
        file = dir.File(TextTokenizer.FileName);
        var root = (JsonObject)JsonNode.Parse(Original(false, false))!;
        root["pre_tokenizer"]!["pretokenizers"]![0]!["pattern"] = new JsonObject { ["Regex"] = pattern };
        File.WriteAllText(file, root.ToJsonString());
        var tokenizer = TextTokenizer.Load(dir.Path);
        var encode = Task.Run(() => tokenizer.Encode(text));
        // A hang would keep a thread-pool thread spinning; the assertion at least ends the test.
        Assert.True(Task.WhenAny(encode, Task.Delay(TimeSpan.FromSeconds(30))).Result == encode, $"Encode with /{pattern}/ is still running after 30 s");
        return encode.Exception?.InnerException;
    }

    [Fact]
    public void A_split_regex_that_matches_empty_only_in_context_fails_encoding_instead_of_spinning()
    {
        // \b never matches "" alone, so the load-time check passes it; at a word boundary it matches empty.
        var e = Assert.IsType<TokenizerException>(EncodeWith(@"\b|\w+", "ab cd", out var file));
        Assert.Equal(file, e.File);
        Assert.Contains("empty string", e.Message);
    }

    [Fact]
    public void A_catastrophically_backtracking_split_regex_fails_encoding_with_a_tokenizer_exception_instead_of_hanging()
    {
        // Exponential backtracking on this input; the match timeout turns it into an error naming the file.
        var text = string.Concat(Enumerable.Repeat("word ", 12)) + "wordwordwordwordwordword!";
        var e = Assert.IsType<TokenizerException>(EncodeWith(@"^(\w+\s?)+$|!", text, out var file));
        Assert.Equal(file, e.File);
        Assert.Contains("timed out", e.Message);
    }

    [Fact]
    public void Edited_tokenizers_load_into_one_that_round_trips_text_or_throw_a_tokenizer_exception_naming_the_file()
    {
        using var dir = new TempDir();
        var files = new[] { dir.File(TextTokenizer.FileName), dir.File(TextTokenizer.ConfigFileName) };
        var tally = new Dictionary<string, int>();
        Fuzz.Check(Cases, Fuzz.Cases(600), c =>
        {
            Write(dir, c);
            TextTokenizer? tokenizer = null;
            var (error, _) = Fuzz.Measure(() => tokenizer = TextTokenizer.Load(dir.Path));
            var prefix = c.Edits.Length == 0 ? "valid " : "edited ";
            if (error is not null)
            {
                if (error is not TokenizerException te)
                    throw new Exception($"expected TokenizerException, got {error.GetType().Name}: {error.Message}", error);
                if (!files.Contains(te.File) || !te.Message.StartsWith(te.File, StringComparison.Ordinal))
                    throw new Exception($"the error does not name the file: {te.Message}");
                if (c.Edits.Length == 0) throw new Exception($"a valid tokenizer was refused: {te.Message}", te);
                return prefix + "refused";
            }
            // Accepted: a usable tokenizer, whose ids fit the vocabulary size it reports.
            var t = tokenizer!;
            if (t.VocabularySize <= 0) throw new Exception($"vocabulary size {t.VocabularySize}");
            foreach (var text in SampleTexts)
            {
                var ids = t.Encode(text);
                if (ids.Any(id => id < 0 || id >= t.VocabularySize))
                    throw new Exception($"'{text}' encodes to ids outside [0, {t.VocabularySize}): {string.Join(",", ids)}");
                _ = t.Decode(ids);
                if (c.Edits.Length == 0 && t.Decode(ids) != (c.Nfc ? text.Normalize(NormalizationForm.FormC) : text))
                    throw new Exception($"'{text}' does not round-trip");
            }
            return prefix + "accepted";
        }, tally);
        output.WriteLine("tokenizer.json: " + Fuzz.Summary(tally));
        Assert.True(tally.GetValueOrDefault("edited refused") > 0 && tally.GetValueOrDefault("edited accepted") > 0, Fuzz.Summary(tally));
    }
}
