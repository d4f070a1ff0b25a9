namespace PolicyKit.Templating;

/// <summary>
/// A chat template could not be parsed (a syntax error, or a Jinja construct outside the supported subset) or failed
/// while rendering (a type error, an undefined value used where Jinja raises, or the template's own
/// <c>raise_exception(...)</c>).
/// </summary>
public sealed class ChatTemplateException : Exception
{
    /// <summary>Creates an exception whose message is <paramref name="message"/>, positioned at <paramref name="line"/>:<paramref name="column"/> when they are positive.</summary>
    public ChatTemplateException(string message, int line = 0, int column = 0, Exception? innerException = null)
        : base(line > 0 ? $"{message} (line {line}, column {column})" : message, innerException)
    {
        Reason = message;
        Line = line;
        Column = column;
    }

    /// <summary>The message without the position suffix: for <c>raise_exception(msg)</c>, exactly <c>msg</c>.</summary>
    public string Reason { get; }

    /// <summary>1-based line in the template source where the problem was found; 0 when unknown.</summary>
    public int Line { get; }

    /// <summary>1-based column in the template source where the problem was found; 0 when unknown.</summary>
    public int Column { get; }

    /// <summary>True when the template itself raised the error with <c>raise_exception(...)</c>.</summary>
    public bool RaisedByTemplate { get; init; }
}
