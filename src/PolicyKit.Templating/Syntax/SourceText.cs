namespace PolicyKit.Templating.Syntax;

/// <summary>The template source with a line table, so that errors can name a line and column.</summary>
internal sealed class SourceText
{
    private readonly int[] _lineStarts;

    public SourceText(string text)
    {
        Text = text;
        var starts = new List<int> { 0 };
        for (int i = 0; i < text.Length; i++)
            if (text[i] == '\n') starts.Add(i + 1);
        _lineStarts = starts.ToArray();
    }

    public string Text { get; }

    public (int Line, int Column) Position(int offset)
    {
        int index = Array.BinarySearch(_lineStarts, offset);
        if (index < 0) index = ~index - 1;
        return (index + 1, offset - _lineStarts[index] + 1);
    }

    public ChatTemplateException Error(string message, int offset)
    {
        var (line, column) = Position(offset);
        return new ChatTemplateException(message, line, column);
    }
}
