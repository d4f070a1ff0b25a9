namespace PolicyKit.Diffusion.Tokenization;

/// <summary>
/// GPT-2's reversible byte-to-character map used by byte-level BPE vocabularies (GPT-2, Qwen2/Dream, LLaDA):
/// printable bytes map to themselves, the others (space, control bytes, ...) to characters from U+0100 on,
/// so that every token is a printable string (space becomes 'Ġ').
/// </summary>
public static class ByteLevelAlphabet
{
    private static readonly char[] ByteToChar = Build();
    private static readonly Dictionary<char, byte> CharToByte =
        Enumerable.Range(0, 256).ToDictionary(b => ByteToChar[b], b => (byte)b);

    /// <summary>The vocabulary character that stands for byte <paramref name="b"/>.</summary>
    public static char ForByte(byte b) => ByteToChar[b];

    /// <summary>The byte a vocabulary character stands for; false for a character outside the alphabet.</summary>
    public static bool TryGetByte(char c, out byte b) => CharToByte.TryGetValue(c, out b);

    /// <summary>The vocabulary string of a UTF-8 text (e.g. " the" becomes "Ġthe").</summary>
    public static string Encode(string text) =>
        string.Concat(System.Text.Encoding.UTF8.GetBytes(text).Select(b => ByteToChar[b]));

    private static char[] Build()
    {
        var map = new char[256];
        var assigned = new bool[256];
        foreach (var (from, to) in new[] { (33, 126), (161, 172), (174, 255) })
            for (var b = from; b <= to; b++)
            {
                map[b] = (char)b;
                assigned[b] = true;
            }
        var next = 256;
        for (var b = 0; b < 256; b++)
            if (!assigned[b]) map[b] = (char)next++;
        return map;
    }
}
