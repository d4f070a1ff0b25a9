using System.Text;
using Microsoft.Extensions.AI;
using PolicyKit.Diffusion.Tokenization;

namespace PolicyKit.AI.Tests;

/// <summary>The committed-prefix text on the shipped byte-level tokenizer, step by step.</summary>
public sealed class CommittedTextTests
{
    private static readonly TextTokenizer Tokenizer = TextTokenizer.Load(Hosts.ShippedModel);
    private static readonly int Eos = Tokenizer.EosTokenId!.Value;
    private static readonly int Mask = Tokenizer.MaskTokenId!.Value;

    /// <summary>One token per UTF-8 byte of <paramref name="text"/> (every byte has its own token in a byte-level vocabulary).</summary>
    private static long[] Bytes(string text) =>
        [.. Encoding.UTF8.GetBytes(text).Select(b => (long)Tokenizer.TokenToId(ByteLevelAlphabet.ForByte(b).ToString())!.Value)];

    private static long[] Masked(long[] tokens, params int[] masked)
    {
        var copy = (long[])tokens.Clone();
        foreach (var i in masked) copy[i] = Mask;
        return copy;
    }

    private static CommittedText New(int length, params string[] stops) => new(Tokenizer, Eos, Mask, length, stops);

    [Fact]
    public void Text_appears_only_once_everything_before_it_is_committed()
    {
        var tokens = Bytes("abcd");
        var text = New(4);
        Assert.Equal("", text.Advance(Masked(tokens, 0, 2)));   // b and d committed, a still masked
        Assert.Equal("ab", text.Advance(Masked(tokens, 2)));
        Assert.Equal("", text.Advance(Masked(tokens, 2)));
        Assert.Equal("cd", text.Advance(tokens));
        Assert.Equal(ChatFinishReason.Length, text.FinishReason);
        Assert.Equal("", text.Complete(tokens));
        Assert.Equal(4, text.OutputTokens);
    }

    [Fact]
    public void A_character_split_across_byte_tokens_appears_whole()
    {
        var tokens = Bytes("é€x");   // 2 + 3 + 1 bytes
        Assert.Equal(6, tokens.Length);
        var text = New(6);
        Assert.Equal("", text.Advance(Masked(tokens, 1, 2, 3, 4, 5)));
        Assert.Equal("é", text.Advance(Masked(tokens, 3, 4, 5)));
        Assert.Equal("", text.Advance(Masked(tokens, 4, 5)));
        Assert.Equal("€x", text.Complete(tokens));
        Assert.Equal(Tokenizer.Decode(tokens.Select(t => (int)t)), text.Text);
    }

    [Fact]
    public void A_character_cut_off_by_the_length_ends_as_the_whole_decode_would()
    {
        var tokens = Bytes("a€");
        var text = New(2);   // keeps "a" and the first byte of "€"
        Assert.Equal("a\uFFFD", text.Complete(tokens));
        Assert.Equal(ChatFinishReason.Length, text.FinishReason);
        Assert.Equal(2, text.OutputTokens);
    }

    [Fact]
    public void End_of_sequence_stops_the_text_and_is_not_counted()
    {
        long[] tokens = [.. Bytes("hi"), Eos, .. Bytes("xy")];
        var text = New(5);
        Assert.Equal("hi", text.Advance(tokens));
        Assert.Equal(ChatFinishReason.Stop, text.FinishReason);
        Assert.Equal(2, text.OutputTokens);
        Assert.Equal("", text.Complete(tokens));
    }

    [Fact]
    public void A_stop_sequence_is_held_back_while_it_may_form_and_cut_when_it_does()
    {
        var tokens = Bytes("abXYZcd");
        var text = New(7, "XYZ");
        Assert.Equal("ab", text.Advance(Masked(tokens, 3, 4, 5, 6)));  // "abX": X may start the stop sequence
        Assert.Equal("", text.Advance(Masked(tokens, 4, 5, 6)));      // "abXY"
        Assert.Equal("", text.Advance(tokens));                       // "abXYZ" ends it
        Assert.Equal(ChatFinishReason.Stop, text.FinishReason);
        Assert.Equal("ab", text.Text);
        Assert.Equal(2, text.OutputTokens);
        Assert.Equal("", text.Complete(tokens));
    }

    [Fact]
    public void Held_back_text_that_does_not_become_a_stop_sequence_is_released()
    {
        var tokens = Bytes("abXq");
        var text = New(4, "XYZ");
        Assert.Equal("ab", text.Advance(Masked(tokens, 3)));
        Assert.Equal("Xq", text.Advance(tokens));
        Assert.Equal(ChatFinishReason.Length, text.FinishReason);
    }

    [Fact]
    public void A_stop_sequence_inside_a_multi_character_token_counts_that_token()
    {
        // "ab" + "cd" as single tokens where the vocabulary merges them; otherwise bytes (the count is then per byte).
        var tokens = Tokenizer.Encode("abcdef").Select(i => (long)i).ToArray();
        var text = New(tokens.Length, "d");
        var all = text.Complete(tokens);
        Assert.Equal("abc", all);
        Assert.Equal(ChatFinishReason.Stop, text.FinishReason);
        // The tokens whose text reaches the cut: the one holding "c" is the last counted.
        int covering = 0, chars = 0;
        while (chars < 3) chars += Tokenizer.Decode([(int)tokens[covering++]]).Length;
        Assert.Equal(covering, text.OutputTokens);
    }

    [Fact]
    public void A_mask_the_sampler_committed_is_skipped_at_the_end()
    {
        var tokens = Masked(Bytes("abc"), 1);
        var text = New(3);
        Assert.Equal("a", text.Advance(tokens));
        Assert.Equal("c", text.Complete(tokens));
        Assert.Equal("ac", text.Text);
    }
}
