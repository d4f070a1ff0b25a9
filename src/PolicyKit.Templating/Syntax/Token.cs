namespace PolicyKit.Templating.Syntax;

internal enum TokenKind
{
    Name,
    String,
    Integer,
    Float,
    Operator,
    /// <summary>The end of the tag's tokens (<c>}}</c> or <c>%}</c>).</summary>
    End,
}

/// <summary>One token inside a <c>{{ }}</c> or <c>{% %}</c> tag; <see cref="Value"/> holds a literal's value.</summary>
internal readonly record struct Token(TokenKind Kind, string Text, object? Value, int Offset)
{
    public bool IsOperator(string text) => Kind == TokenKind.Operator && Text == text;
    public bool IsName(string text) => Kind == TokenKind.Name && Text == text;

    public string Describe() => Kind switch
    {
        TokenKind.End => "the end of the tag",
        TokenKind.String => "a string literal",
        TokenKind.Integer or TokenKind.Float => $"the number {Text}",
        _ => $"'{Text}'",
    };
}

internal enum TagKind { Output, Block }

/// <summary>A piece of the template after lexing: literal text, or a tag with its tokens.</summary>
internal abstract record Piece(int Offset);

internal sealed record TextPiece(string Text, int Offset) : Piece(Offset);

internal sealed record TagPiece(TagKind Kind, IReadOnlyList<Token> Tokens, int Offset) : Piece(Offset);
