using System.Text.Json;

namespace PolicyKit.Diffusion.Tests.Tokenization;

/// <summary>One corpus string and what Hugging Face's tokenizers made of it.</summary>
public sealed record ReferenceCase(string Group, string Text, int[] Ids, string Decoded, string DecodedSkippingSpecial)
{
    public override string ToString() => $"[{Group}] {Escape(Text)}";

    /// <summary>The text with every non-ASCII or control character as \uXXXX, so that a failure message shows it exactly.</summary>
    public static string Escape(string s) =>
        "\"" + string.Concat(s.Select(c => c is >= ' ' and <= '~' ? c.ToString() : $"\\u{(int)c:X4}")) + "\"";
}

/// <summary>
/// A <c>*.expected.json</c> written by tools/tokenizer-oracle: which tokenizer.json (by SHA-256), which reference
/// version, the corpus cases, and id sequences that only decode (lone bytes, cut UTF-8, added tokens between).
/// </summary>
public sealed record ReferenceExpectations(
    string Name, string Tokenizer, string Sha256, string Reference, string? Package, string? Version, string? FileInPackage,
    string? Normalizer, int MergeSensitiveVocabularyEntries, IReadOnlyList<ReferenceCase> Cases,
    IReadOnlyList<(int[] Ids, string Decoded, string DecodedSkippingSpecial)> DecodeCases)
{
    public static ReferenceExpectations Load(string name)
    {
        var path = Path.Combine(RealTokenizerFiles.DataDirectory, name + ".expected.json");
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        var root = doc.RootElement;
        string? Optional(string key) => root.GetProperty(key).ValueKind == JsonValueKind.Null ? null : root.GetProperty(key).GetString();
        var cases = root.GetProperty("cases").EnumerateArray().Select(c => new ReferenceCase(
            c.GetProperty("group").GetString()!,
            c.TryGetProperty("utf16", out var units)
                ? new string(units.EnumerateArray().Select(u => (char)u.GetInt32()).ToArray())
                : c.GetProperty("text").GetString()!,
            c.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32()).ToArray(),
            c.GetProperty("decoded").GetString()!,
            c.GetProperty("decodedSkippingSpecial").GetString()!)).ToList();
        return new ReferenceExpectations(name, root.GetProperty("tokenizer").GetString()!, root.GetProperty("sha256").GetString()!,
            root.GetProperty("reference").GetString()!, Optional("package"), Optional("version"), Optional("fileInPackage"),
            Optional("normalizer"),
            root.GetProperty("mergeSensitiveVocabularyEntries").GetInt32(), cases,
            root.GetProperty("decodeCases").EnumerateArray().Select(c => (
                c.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32()).ToArray(),
                c.GetProperty("decoded").GetString()!,
                c.GetProperty("decodedSkippingSpecial").GetString()!)).ToList());
    }
}
