using System.Buffers;

namespace PolicyKit.Diffusion.Tokenization;

/// <summary>
/// Cuts a text into added tokens and the stretches between them, the way Hugging Face's added vocabulary does:
/// at each point the leftmost occurrence of any added token wins, and of those starting there the longest.
/// </summary>
internal sealed class AddedTokenSplitter
{
    private readonly SearchValues<string>? _any;
    // Tokens by first character, longest first, to pick the longest among those that start at a match.
    private readonly Dictionary<char, (string Content, int Id)[]> _byFirstChar;

    public AddedTokenSplitter(IEnumerable<(string Content, int Id)> tokens)
    {
        var list = tokens.ToList();
        _byFirstChar = list.GroupBy(t => t.Content[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(t => t.Content.Length).ToArray());
        _any = list.Count == 0 ? null : SearchValues.Create(list.Select(t => t.Content).Distinct().ToArray(), StringComparison.Ordinal);
    }

    public bool IsEmpty => _any is null;

    /// <summary>The pieces of <paramref name="text"/> in order: an added token's id, or -1 for plain text.</summary>
    public void Split(string text, List<(int Offset, int Length, int TokenId)> pieces)
    {
        pieces.Clear();
        if (_any is null)
        {
            if (text.Length > 0) pieces.Add((0, text.Length, -1));
            return;
        }
        var position = 0;
        while (position < text.Length)
        {
            var found = text.AsSpan(position).IndexOfAny(_any);
            if (found < 0) break;
            var start = position + found;
            var (content, id) = _byFirstChar[text[start]].First(t => text.AsSpan(start).StartsWith(t.Content, StringComparison.Ordinal));
            if (start > position) pieces.Add((position, start - position, -1));
            pieces.Add((start, content.Length, id));
            position = start + content.Length;
        }
        if (position < text.Length) pieces.Add((position, text.Length - position, -1));
    }
}
