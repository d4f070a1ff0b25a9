using PolicyKit.Diffusion.Tokenization;

namespace PolicyKit.Diffusion.Tests;

public class TokenizerTests
{
    private static TextTokenizer WriteAndLoad(TempDir dir, bool arrays, bool nfc = false)
    {
        ByteLevelTokenizerWriter.Write(dir.File("tokenizer.json"), ByteLevelTokenizerWriter.DefaultMerges,
            ["<|endoftext|>", "<|mdm_mask|>"], mergesAsArrays: arrays, nfcNormalizer: nfc);
        return TextTokenizer.Load(dir.Path);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RoundTripsTextAndAppliesMerges(bool arrays)
    {
        using var dir = new TempDir();
        var tok = WriteAndLoad(dir, arrays);
        const string text = "the cat and the hat, naïve 数字 123\n\tend";
        var ids = tok.Encode(text);
        Assert.Equal(text, tok.Decode(ids));
        // " the" is one merged token ("Ġthe"), "the" at the start is "t" + "he".
        Assert.Equal(tok.TokenToId("Ġthe"), tok.Encode(" the").Single());
        Assert.Equal(new int?[] { tok.TokenToId("t"), tok.TokenToId("he") }, tok.Encode("the").Select(i => (int?)i));
        // Bytes map to their own ids (id = byte value in this vocabulary).
        Assert.Equal(new[] { 0xE6, 0x95, 0xB0 }, tok.Encode("数"));
    }

    [Fact]
    public void BothMergeFormsTokeniseIdentically()
    {
        using var a = new TempDir();
        using var b = new TempDir();
        const string text = "the in and is on of ring there";
        Assert.Equal(WriteAndLoad(a, false).Encode(text), WriteAndLoad(b, true).Encode(text));
    }

    [Fact]
    public void SpecialTokensMapToTheirIds()
    {
        using var dir = new TempDir();
        var tok = WriteAndLoad(dir, false, nfc: true);
        var eos = 256 + ByteLevelTokenizerWriter.DefaultMerges.Count;
        Assert.Equal(eos, tok.EosTokenId);
        Assert.Equal(eos + 1, tok.MaskTokenId);
        Assert.Equal(eos + 2, tok.VocabularySize);
        var ids = tok.Encode("hi<|mdm_mask|><|mdm_mask|> there<|endoftext|>");
        Assert.Equal(2, ids.Count(i => i == tok.MaskTokenId));
        Assert.Equal(eos, ids[^1]);
        Assert.Equal("hi<|mdm_mask|><|mdm_mask|> there<|endoftext|>", tok.Decode(ids));
        Assert.Equal("hi there", tok.Decode(ids, skipSpecialTokens: true));
        Assert.True(tok.IsSpecial(eos));
        // Ids beyond the tokenizer (padding rows of a larger model vocabulary) are skipped, not fatal.
        Assert.Equal("hi", tok.Decode([104, 105, 100_000]));
    }

    [Fact]
    public void TokenizerConfigNamesTheSpecialTokens()
    {
        using var dir = new TempDir();
        ByteLevelTokenizerWriter.Write(dir.File("tokenizer.json"), [], ["<|endoftext|>", "<|pad|>", "<|mask|>"]);
        ByteLevelTokenizerWriter.WriteConfig(dir.File("tokenizer_config.json"), "<|endoftext|>", "<|pad|>");
        var tok = TextTokenizer.Load(dir.Path);
        Assert.Equal((256, 257, 258), (tok.EosTokenId!.Value, tok.PadTokenId!.Value, tok.MaskTokenId!.Value));
    }

    [Theory]
    [InlineData("{ broken", "not valid JSON")]
    [InlineData("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}", "'WordPiece' is not supported")]
    [InlineData("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1}}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}", "non-negative")]
    [InlineData("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 0}}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}", "used by both")]
    [InlineData("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a b\"]}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}", "missing from the vocab")]
    [InlineData("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a\"]}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}", "two tokens")]
    [InlineData("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [[\"a\", 1]]}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}", "merge #1")]
    [InlineData("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}, \"pre_tokenizer\": {\"type\": \"Whitespace\"}}", "'Whitespace' is not supported")]
    [InlineData("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}}", "'pre_tokenizer' is missing")]
    [InlineData("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"added_tokens\": [{\"content\": \"x\"}]}", "added_tokens")]
    [InlineData("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}, \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}}, {\"type\": \"ByteLevel\"}]}}", "regex is not valid")]
    public void MalformedTokenizerFilesNameTheFile(string json, string expected)
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("tokenizer.json"), json);
        var e = Assert.Throws<TokenizerException>(() => TextTokenizer.Load(dir.Path));
        Assert.Equal(dir.File("tokenizer.json"), e.File);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void MissingTokenizerFile()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<TokenizerException>(() => TextTokenizer.Load(dir.Path));
        Assert.Contains("not found", e.Message);
    }

    [Fact]
    public void Gpt2StyleByteLevelPreTokenizerIsAccepted()
    {
        using var dir = new TempDir();
        ByteLevelTokenizerWriter.Write(dir.File("tokenizer.json"), ByteLevelTokenizerWriter.DefaultMerges, ["<|endoftext|>"]);
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(dir.File("tokenizer.json")))!;
        json["pre_tokenizer"] = System.Text.Json.Nodes.JsonNode.Parse("{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": true}");
        File.WriteAllText(dir.File("tokenizer.json"), json.ToJsonString());
        var tok = TextTokenizer.Load(dir.Path);
        Assert.Equal("it's the end", tok.Decode(tok.Encode("it's the end")));
        Assert.Contains(tok.TokenToId("Ġthe")!.Value, tok.Encode("it's the end"));
    }
}
