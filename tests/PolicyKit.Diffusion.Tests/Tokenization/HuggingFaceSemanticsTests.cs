using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using PolicyKit.Diffusion.Tokenization;

namespace PolicyKit.Diffusion.Tests.Tokenization;

/// <summary>
/// Each of the four ways PolicyKit once tokenised differently from Hugging Face, on a small tokenizer written
/// here (the real files are compared in <see cref="HuggingFaceReferenceTests"/>), and each tokenizer.json field
/// PolicyKit cannot honour, refused at load.
/// </summary>
public class HuggingFaceSemanticsTests
{
    /// <summary>The test tokenizer (byte ids = byte values, a few English merges), edited before it is loaded.</summary>
    private static TextTokenizer Load(TempDir dir, Action<JsonObject>? edit = null, bool nfc = false)
    {
        var path = dir.File(TextTokenizer.FileName);
        ByteLevelTokenizerWriter.Write(path, ByteLevelTokenizerWriter.DefaultMerges, ["<|endoftext|>", "<think>"], nfcNormalizer: nfc);
        var root = (JsonObject)JsonNode.Parse(File.ReadAllText(path))!;
        edit?.Invoke(root);
        File.WriteAllText(path, root.ToJsonString());
        return TextTokenizer.Load(dir.Path);
    }

    private static List<string> Words(string pattern, string text)
    {
        var words = new List<(int Offset, int Length)>();
        new CodePointRegexSplitter(new Regex(pattern, RegexOptions.CultureInvariant), "test").Split(text, words);
        return words.Select(w => text.Substring(w.Offset, w.Length)).ToList();
    }

    private const string Llama3Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    [Fact]
    public void Astral_letters_and_digits_are_letters_and_digits_to_the_split_regex()
    {
        // Read as UTF-16 halves, 𝟏 (U+1D7CF, a digit) was punctuation to [^\s\p{L}\p{N}] and took the space with it.
        Assert.Equal(new[] { " ", "𝟏", "𝟐" }, Words(ByteLevelTokenizerWriter.Qwen2Pattern, " 𝟏𝟐"));
        Assert.Equal(new[] { "𞤀", "'s" }, Words(ByteLevelTokenizerWriter.Qwen2Pattern, "𞤀's"));
        // \p{N}{1,3} counts code points, as Hugging Face's regex does: three astral digits, not one and a half.
        Assert.Equal(new[] { "𝟏𝟐𝟑", "𝟒" }, Words(Llama3Pattern, "𝟏𝟐𝟑𝟒"));
        Assert.Equal(new[] { "a", " 👍🏽", "𝟏𝟐" }, Words(Llama3Pattern, "a 👍🏽𝟏𝟐"));
    }

    [Fact]
    public void Text_between_matches_is_a_word_too()
    {
        // Split "Isolated": what the regex does not match is kept as its own word, not dropped.
        Assert.Equal(new[] { "ab", " ", "cd", "!" }, Words(@"[a-z]+|!", "ab cd!"));
        Assert.Equal(new[] { "x", "𝟏𝟐", "y" }, Words(@"[xy]", "x𝟏𝟐y"));
    }

    [Fact]
    public void Every_stand_in_has_the_category_it_stands_for_and_is_not_white_space()
    {
        foreach (var category in Enum.GetValues<UnicodeCategory>())
        {
            var c = CodePointRegexSplitter.Representative(category);
            if (category is UnicodeCategory.Surrogate) continue; // never used: a valid pair is one code point
            Assert.Equal(category, char.GetUnicodeCategory(c));
            Assert.Equal(category is UnicodeCategory.SpaceSeparator or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator,
                Regex.IsMatch(c.ToString(), @"\s"));
            Assert.False(Regex.IsMatch(c.ToString(), "[a-z]", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant), $"U+{(int)c:X4} folds to ASCII");
        }
    }

    [Fact]
    public void An_added_token_followed_by_a_combining_mark_is_found_in_the_raw_text_before_normalisation()
    {
        using var dir = new TempDir();
        var tok = Load(dir, nfc: true);
        // NFC of the whole text would compose '>' + U+0338 into '≯' and lose the token.
        var ids = tok.Encode("<|endoftext|>\u0338");
        Assert.Equal(new[] { tok.AddedTokens["<|endoftext|>"], 0xCC, 0xB8 }, ids);
        Assert.Equal("<|endoftext|>\u0338", tok.Decode(ids));
        // Outside an added token, NFC still applies.
        Assert.Equal(">\u0338".Normalize(), tok.Decode(tok.Encode(">\u0338")));
    }

    [Fact]
    public void A_normalized_added_token_is_matched_after_normalisation()
    {
        using var dir = new TempDir();
        // "é" written decomposed in the file, marked normalized: it must match the composed é of NFC text.
        var tok = Load(dir, root => ((JsonArray)root["added_tokens"]!).Add(new JsonObject
        {
            ["id"] = 400, ["content"] = "<e\u0301>", ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
            ["normalized"] = true, ["special"] = false,
        }), nfc: true);
        Assert.Equal(new[] { (int)'a', 400, (int)'b' }, tok.Encode("a<\u00e9>b"));
        Assert.Equal(new[] { (int)'a', 400, (int)'b' }, tok.Encode("a<e\u0301>b"));
    }

    [Fact]
    public void The_longest_added_token_starting_leftmost_wins()
    {
        using var dir = new TempDir();
        var tok = Load(dir, root =>
        {
            foreach (var (id, content) in new[] { (400, "<|a"), (401, "<|a|>"), (402, "a|") })
                ((JsonArray)root["added_tokens"]!).Add(new JsonObject
                {
                    ["id"] = id, ["content"] = content, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
                    ["normalized"] = false, ["special"] = true,
                });
        });
        Assert.Equal(new[] { 401, (int)'x' }, tok.Encode("<|a|>x"));
        Assert.Equal(new[] { 400, (int)'b' }, tok.Encode("<|ab"));
        Assert.Equal(new[] { (int)'x', 402 }, tok.Encode("xa|"));
    }

    [Fact]
    public void Ignore_merges_takes_a_whole_vocabulary_entry_that_the_merges_would_split()
    {
        // The merges build "ing" as i + ng, but on the word "ing" the earlier merge i + n wins: "in" + "g".
        using var merging = new TempDir();
        using var whole = new TempDir();
        var bpe = Load(merging);
        var ignoring = Load(whole, root => root["model"]!["ignore_merges"] = true);
        var ing = bpe.TokenToId("ing")!.Value;
        Assert.Equal(new[] { bpe.TokenToId("in")!.Value, (int)'g' }, bpe.Encode("ing"));
        Assert.Equal(new[] { ing }, ignoring.Encode("ing"));
        // A word that is no entry is still merged.
        Assert.Equal(bpe.Encode("ings"), ignoring.Encode("ings"));
    }

    [Fact]
    public void Skipping_special_tokens_keeps_added_tokens_that_are_not_special()
    {
        using var dir = new TempDir();
        var tok = Load(dir, root => root["added_tokens"]![1]!["special"] = false);
        var ids = tok.Encode("<think>hi</think><|endoftext|>");
        Assert.Equal("<think>hi</think>", tok.Decode(ids, skipSpecialTokens: true));
        Assert.True(tok.IsSpecial(tok.AddedTokens["<|endoftext|>"]));
        Assert.False(tok.IsSpecial(tok.AddedTokens["<think>"]));
        Assert.Equal(new[] { "<|endoftext|>" }, tok.SpecialTokens.Keys);
    }

    [Fact]
    public void A_lone_surrogate_is_encoded_as_the_replacement_character()
    {
        using var dir = new TempDir();
        var tok = Load(dir, nfc: true);
        Assert.Equal(tok.Encode("a\uFFFDb"), tok.Encode("a\uD800b"));
        Assert.Equal(tok.Encode("\uFFFD"), tok.Encode("\uDC00"));
    }

    [Fact]
    public void An_incomplete_utf8_character_decodes_to_the_replacement_character()
    {
        using var dir = new TempDir();
        var tok = Load(dir);
        Assert.Equal("a\uFFFDb", tok.Decode([(int)'a', 0xF0, 0x9F, (int)'b']));
    }

    public static TheoryData<string, string> Unsupported => new()
    {
        { """{"truncation": {"max_length": 8}}""", "'truncation'" },
        { """{"padding": {"length": 8}}""", "'padding'" },
        { """{"model": {"dropout": 0.1}}""", "'model.dropout'" },
        { """{"model": {"unk_token": "<unk>"}}""", "'model.unk_token'" },
        { """{"model": {"continuing_subword_prefix": "##"}}""", "'model.continuing_subword_prefix'" },
        { """{"model": {"end_of_word_suffix": "</w>"}}""", "'model.end_of_word_suffix'" },
        { """{"model": {"byte_fallback": true}}""", "'model.byte_fallback'" },
        { """{"model": {"ignore_merges": "yes"}}""", "'model.ignore_merges'" },
        { """{"added": {"lstrip": true}}""", "\"lstrip\": true" },
        { """{"added": {"rstrip": true}}""", "\"rstrip\": true" },
        { """{"added": {"single_word": true}}""", "\"single_word\": true" },
        { """{"added": {"special": null}}""", "'special'" },
        { """{"added": {"normalized": "no"}}""", "'normalized'" },
        { """{"normalizer": {"type": "Lowercase"}}""", "normalizer 'Lowercase'" },
        { """{"decoder": null}""", "'decoder'" },
        { """{"decoder": {"type": "WordPiece"}}""", "decoder 'WordPiece'" },
        { """{"pattern": "\ud835\udfcf|\\s+|\\S+"}""", "outside the Basic Multilingual Plane" },
        { """{"pattern": "\u05d0|\\s+|\\S+"}""", "U+05D0" },
        { """{"split_after_byte_level": true}""", "after ByteLevel" },
        { """{"vocab_without": "Ā"}""", "byte 0x00" },
    };

    [Theory]
    [MemberData(nameof(Unsupported))]
    public void A_field_PolicyKit_cannot_honour_is_refused_at_load_naming_the_file_and_the_field(string editJson, string expected)
    {
        using var dir = new TempDir();
        var edit = (JsonObject)JsonNode.Parse(editJson)!;
        var e = Assert.Throws<TokenizerException>(() => Load(dir, root =>
        {
            foreach (var (key, value) in edit)
            {
                var model = (JsonObject)root["model"]!;
                var steps = (JsonArray)root["pre_tokenizer"]!["pretokenizers"]!;
                switch (key)
                {
                    case "model":
                        foreach (var (k, v) in (JsonObject)value!) model[k] = v?.DeepClone();
                        break;
                    case "added":
                        foreach (var (k, v) in (JsonObject)value!) root["added_tokens"]![0]![k] = v?.DeepClone();
                        break;
                    case "pattern":
                        steps[0]!["pattern"] = new JsonObject { ["Regex"] = value!.GetValue<string>() };
                        break;
                    case "split_after_byte_level":
                        var split = steps[0]!;
                        steps.RemoveAt(0);
                        steps.Add(split);
                        break;
                    case "vocab_without":
                        ((JsonObject)model["vocab"]!).Remove(value!.GetValue<string>());
                        break;
                    default:
                        root[key] = value?.DeepClone();
                        break;
                }
            }
        }));
        Assert.Equal(dir.File(TextTokenizer.FileName), e.File);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void The_fields_that_only_move_offsets_or_add_special_tokens_are_accepted()
    {
        // trim_offsets, the decoder's flags and the post-processor change no id of encode(add_special_tokens=False).
        using var dir = new TempDir();
        var tok = Load(dir, root =>
        {
            root["pre_tokenizer"]!["pretokenizers"]![1]!["trim_offsets"] = true;
            root["decoder"]!["add_prefix_space"] = true;
            root["post_processor"] = JsonNode.Parse("""{"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}], "pair": [], "special_tokens": {}}""");
            root["model"]!["dropout"] = null;
            root["model"]!["ignore_merges"] = false;
        });
        Assert.Equal(" the end", tok.Decode(tok.Encode(" the end")));
        Assert.DoesNotContain(tok.AddedTokens["<|endoftext|>"], tok.Encode("the"));
    }
}
