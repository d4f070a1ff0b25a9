using System.Text;
using PolicyKit.Diffusion.Tokenization;
using Xunit.Abstractions;

namespace PolicyKit.Diffusion.Tests.Tokenization;

/// <summary>
/// PolicyKit's tokenizer against Hugging Face's own (the <c>tokenizers</c> npm package, its Rust core) on real
/// production tokenizer.json files: the ids of every corpus string and both decodings must be identical.
/// The expected values come from tools/tokenizer-oracle; see <see cref="RealTokenizerFiles"/> for the files.
/// </summary>
[Collection(RealTokenizerCollection.Name)]
public class HuggingFaceReferenceTests(ITestOutputHelper output)
{
    public static TheoryData<string> Files => ["qwen3", "llama3", "policykit-ref"];

    // Loading Qwen3's or Llama-3's file takes seconds; a tokenizer is immutable, so the tests share one per file.
    private static readonly Dictionary<string, TextTokenizer> s_loaded = [];

    private static TextTokenizer Load(ReferenceExpectations expected)
    {
        var path = RealTokenizerFiles.Locate(expected, out var why);
        Skip.If(path is null, $"{expected.Tokenizer} is not available here, so it is not compared with Hugging Face: {why}");
        lock (s_loaded)
        {
            if (!s_loaded.TryGetValue(path!, out var tokenizer)) s_loaded[path!] = tokenizer = TextTokenizer.FromFiles(path!);
            return tokenizer;
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Files))]
    public void Every_corpus_string_encodes_to_the_reference_ids(string name)
    {
        var expected = ReferenceExpectations.Load(name);
        var tokenizer = Load(expected);
        var wrong = expected.Cases.Where(c => !tokenizer.Encode(c.Text).SequenceEqual(c.Ids)).ToList();
        output.WriteLine($"{expected.Tokenizer} vs {expected.Reference}: identical ids on {expected.Cases.Count - wrong.Count} of {expected.Cases.Count} strings");
        foreach (var g in expected.Cases.GroupBy(c => c.Group))
            output.WriteLine($"  {g.Key}: {g.Count(c => !wrong.Contains(c))}/{g.Count()}");
        Assert.True(wrong.Count == 0, $"{wrong.Count} of {expected.Cases.Count} strings differ from {expected.Reference}:\n" +
            string.Join("\n", wrong.Take(25).Select(c => $"{c}\n    expected [{string.Join(",", c.Ids)}]\n    actual   [{string.Join(",", tokenizer.Encode(c.Text))}]")));
    }

    [SkippableTheory]
    [MemberData(nameof(Files))]
    public void The_reference_ids_decode_to_the_reference_text_with_and_without_special_tokens(string name)
    {
        var expected = ReferenceExpectations.Load(name);
        var tokenizer = Load(expected);
        var wrong = new List<string>();
        foreach (var c in expected.Cases)
        {
            if (tokenizer.Decode(c.Ids) != c.Decoded)
                wrong.Add($"{c}: decoded {ReferenceCase.Escape(tokenizer.Decode(c.Ids))}, expected {ReferenceCase.Escape(c.Decoded)}");
            if (tokenizer.Decode(c.Ids, skipSpecialTokens: true) != c.DecodedSkippingSpecial)
                wrong.Add($"{c}: skipping special tokens decoded {ReferenceCase.Escape(tokenizer.Decode(c.Ids, true))}, expected {ReferenceCase.Escape(c.DecodedSkippingSpecial)}");
        }
        output.WriteLine($"{expected.Tokenizer}: {2 * expected.Cases.Count - wrong.Count} of {2 * expected.Cases.Count} decodings identical");
        Assert.True(wrong.Count == 0, string.Join("\n", wrong.Take(25)));
    }

    [SkippableTheory]
    [MemberData(nameof(Files))]
    public void Ids_that_spell_no_whole_character_decode_to_replacement_characters_as_in_the_reference(string name)
    {
        var expected = ReferenceExpectations.Load(name);
        var tokenizer = Load(expected);
        var wrong = expected.DecodeCases
            .Where(c => tokenizer.Decode(c.Ids) != c.Decoded || tokenizer.Decode(c.Ids, skipSpecialTokens: true) != c.DecodedSkippingSpecial)
            .Select(c => $"[{string.Join(",", c.Ids)}]: {ReferenceCase.Escape(tokenizer.Decode(c.Ids))}, expected {ReferenceCase.Escape(c.Decoded)}")
            .ToList();
        output.WriteLine($"{expected.Tokenizer}: {expected.DecodeCases.Count - wrong.Count} of {expected.DecodeCases.Count} id sequences decode identically");
        Assert.True(expected.DecodeCases.Count > 100 && wrong.Count == 0, string.Join("\n", wrong.Take(25)));
    }

    [SkippableTheory]
    [MemberData(nameof(Files))]
    public void Decoding_what_it_encodes_gives_the_normalized_text_wherever_the_reference_does(string name)
    {
        var expected = ReferenceExpectations.Load(name);
        var tokenizer = Load(expected);
        var form = expected.Normalizer switch
        {
            null => (NormalizationForm?)null,
            "NFC" => NormalizationForm.FormC,
            var other => throw new InvalidOperationException($"no test normalisation for {other}"),
        };
        var agreeing = expected.Cases.Where(c => IsWellFormed(c.Text) && c.Decoded == Normalize(c.Text, form)).ToList();
        var wrong = agreeing.Where(c => tokenizer.Decode(tokenizer.Encode(c.Text)) != Normalize(c.Text, form)).ToList();
        var target = expected.Normalizer is null ? "s" : $"{expected.Normalizer}(s)";
        output.WriteLine($"{expected.Tokenizer}: decode(encode(s)) = {target} on {agreeing.Count - wrong.Count} of the {agreeing.Count} strings " +
            $"where the reference's does; it does not on {expected.Cases.Count - agreeing.Count}:");
        foreach (var c in expected.Cases.Except(agreeing)) output.WriteLine($"  {c}");
        Assert.True(agreeing.Count > 0.9 * expected.Cases.Count, $"the reference round-trips only {agreeing.Count} strings");
        Assert.True(wrong.Count == 0, string.Join("\n", wrong.Take(25)));
    }

    [Fact]
    public void The_corpus_covers_every_class_of_input_that_once_differed_from_the_reference()
    {
        // Qwen3's file is the one that always runs (it ships with the tests); Llama-3's adds ignore_merges.
        var qwen = ReferenceExpectations.Load("qwen3");
        string[] classes = ["astralLettersAndDigits", "addedTokensAndCombiningMarks", "specialAndNonSpecialTokens", "emoji", "scripts",
            "code", "whitespace", "digits", "contractions", "addedTokensNextToText", "mergeSensitiveVocabularyEntries"];
        foreach (var group in classes) Assert.True(qwen.Cases.Count(c => c.Group == group) >= 10, group);
        Assert.Contains(qwen.Cases, c => c.Text == " 𝟏𝟐");
        Assert.Contains(qwen.Cases, c => c.Text == "𞤀's");
        Assert.Contains(qwen.Cases, c => c.Text == "<|im_end|>\u0338");
        // <think> is an added token with "special": false, so skipping special tokens keeps it.
        Assert.Contains(qwen.Cases, c => c.Text.Contains("<think>") && c.DecodedSkippingSpecial.Contains("<think>"));
        var llama = ReferenceExpectations.Load("llama3");
        Assert.Equal(588, llama.MergeSensitiveVocabularyEntries);
        Assert.True(qwen.Cases.Count >= 300 && qwen.Cases.Count == llama.Cases.Count);
    }

    private static string Normalize(string s, NormalizationForm? form) => form is { } f ? s.Normalize(f) : s;

    private static bool IsWellFormed(string s)
    {
        for (var i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) i++;
            else if (char.IsSurrogate(s[i])) return false;
        }
        return true;
    }
}

/// <summary>
/// Runs the real-tokenizer tests alone, after the parallel ones: each holds a tokenizer of hundreds of megabytes,
/// which would read as growth to the tests that measure the process's memory (Reliability/SoakTests).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RealTokenizerCollection
{
    public const string Name = "real tokenizer files";
}
