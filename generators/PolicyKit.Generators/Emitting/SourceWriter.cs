using System.Text;

namespace PolicyKit.Generators.Emitting;

/// <summary>
/// A small indented text writer for generated C#. Lines end in '\n' on every platform so the output, and
/// the snapshot tests over it, do not depend on the machine.
/// </summary>
internal sealed class SourceWriter
{
    private readonly StringBuilder _text = new();
    private int _depth;

    public SourceWriter Line(string line = "")
    {
        if (line.Length > 0)
            _text.Append(' ', _depth * 4).Append(line);
        _text.Append('\n');
        return this;
    }

    /// <summary>Writes "{" and indents until the matching <see cref="Close"/>.</summary>
    public SourceWriter Open(string? header = null)
    {
        if (header is not null)
            Line(header);
        Line("{");
        _depth++;
        return this;
    }

    public SourceWriter Close(string suffix = "")
    {
        _depth--;
        return Line("}" + suffix);
    }

    public override string ToString() => _text.ToString();
}
