using System.Globalization;
using System.Text;

namespace PolicyKit.Templating.Syntax;

/// <summary>
/// Splits a template into text and tags, tokenizes the tags, and applies Jinja's whitespace control the way
/// transformers configures it: <c>trim_blocks=True</c> (the first newline after a block or comment tag goes),
/// <c>lstrip_blocks=True</c> (spaces and tabs from the start of a line up to a block or comment tag go), <c>-</c>
/// modifiers strip all whitespace on their side, <c>+</c> turns the two options off for one tag.
/// </summary>
internal static class Lexer
{
    private enum RawKind { Text, Output, Block, Comment }

    private sealed class Raw
    {
        public RawKind Kind;
        public int Start;
        public string Text = "";
        public char Left;
        public char Right;
        public List<Token>? Tokens;
    }

    // Longest first, so that "**" wins over "*" and "//" over "/".
    private static readonly string[] Operators =
        ["**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "=", ".", ",", ":", "|", "(", ")", "[", "]", "{", "}"];

    public static List<Piece> Lex(SourceText source)
    {
        var raws = Scan(source);
        var pieces = new List<Piece>(raws.Count);
        string text = source.Text;
        for (int i = 0; i < raws.Count; i++)
        {
            var raw = raws[i];
            if (raw.Kind == RawKind.Text)
            {
                string value = raw.Text;
                var next = i + 1 < raws.Count ? raws[i + 1] : null;
                var previous = i > 0 ? raws[i - 1] : null;
                if (next is not null)
                {
                    if (next.Left == '-')
                        value = value.TrimEnd();
                    else if (next.Kind is RawKind.Block or RawKind.Comment && next.Left != '+')
                        value = StripLineIndent(value, lineStarts: raw.Start == 0 || text[raw.Start - 1] == '\n');
                }
                if (previous is not null)
                {
                    if (previous.Right == '-')
                        value = value.TrimStart();
                    else if (previous.Kind is RawKind.Block or RawKind.Comment && previous.Right != '+' && value.StartsWith('\n'))
                        value = value[1..];
                }
                if (value.Length > 0) pieces.Add(new TextPiece(value, raw.Start));
            }
            else if (raw.Kind != RawKind.Comment)
            {
                pieces.Add(new TagPiece(raw.Kind == RawKind.Output ? TagKind.Output : TagKind.Block, raw.Tokens!, raw.Start));
            }
        }
        return pieces;
    }

    /// <summary>lstrip_blocks: drops the spaces and tabs between the last line start and the tag that follows.</summary>
    private static string StripLineIndent(string value, bool lineStarts)
    {
        int newline = value.LastIndexOf('\n');
        int lineStart = newline >= 0 ? newline + 1 : lineStarts ? 0 : -1;
        if (lineStart < 0) return value;
        for (int i = lineStart; i < value.Length; i++)
            if (value[i] != ' ' && value[i] != '\t') return value;
        return value[..lineStart];
    }

    private static List<Raw> Scan(SourceText source)
    {
        string s = source.Text;
        var raws = new List<Raw>();
        int pos = 0;
        while (pos < s.Length)
        {
            int open = FindTagStart(s, pos);
            if (open < 0)
            {
                raws.Add(new Raw { Kind = RawKind.Text, Start = pos, Text = s[pos..] });
                break;
            }
            if (open > pos) raws.Add(new Raw { Kind = RawKind.Text, Start = pos, Text = s[pos..open] });

            char opener = s[open + 1];
            int p = open + 2;
            char left = p < s.Length && (s[p] == '-' || s[p] == '+') ? s[p] : '\0';
            if (left != '\0') p++;

            if (opener == '#')
            {
                int close = s.IndexOf("#}", p, StringComparison.Ordinal);
                if (close < 0) throw source.Error("unclosed comment: '{#' without '#}'", open);
                char right = close > p && (s[close - 1] == '-' || s[close - 1] == '+') ? s[close - 1] : '\0';
                raws.Add(new Raw { Kind = RawKind.Comment, Start = open, Left = left, Right = right });
                pos = close + 2;
                continue;
            }

            var kind = opener == '{' ? RawKind.Output : RawKind.Block;
            var tokens = new List<Token>();
            char rightModifier = TokenizeTag(source, ref p, kind == RawKind.Output ? '}' : '%', open, tokens);
            raws.Add(new Raw { Kind = kind, Start = open, Left = left, Right = rightModifier, Tokens = tokens });
            pos = p;
        }
        return raws;
    }

    private static int FindTagStart(string s, int from)
    {
        for (int i = s.IndexOf('{', from); i >= 0 && i + 1 < s.Length; i = s.IndexOf('{', i + 1))
        {
            char c = s[i + 1];
            if (c == '{' || c == '%' || c == '#') return i;
        }
        return -1;
    }

    /// <summary>Tokenizes from <paramref name="p"/> up to the tag's closing delimiter; returns its modifier ('-', '+' or '\0').</summary>
    private static char TokenizeTag(SourceText source, ref int p, char closer, int tagStart, List<Token> tokens)
    {
        string s = source.Text;
        int depth = 0;
        while (true)
        {
            while (p < s.Length && char.IsWhiteSpace(s[p])) p++;
            if (p >= s.Length)
                throw source.Error(closer == '}' ? "unclosed expression: '{{' without '}}'" : "unclosed tag: '{%' without '%}'", tagStart);

            if (depth == 0)
            {
                if ((s[p] == '-' || (s[p] == '+' && closer == '%')) && p + 2 < s.Length && s[p + 1] == closer && s[p + 2] == '}')
                {
                    tokens.Add(new Token(TokenKind.End, "", null, p));
                    char modifier = s[p];
                    p += 3;
                    return modifier;
                }
                if (s[p] == closer && p + 1 < s.Length && s[p + 1] == '}')
                {
                    tokens.Add(new Token(TokenKind.End, "", null, p));
                    p += 2;
                    return '\0';
                }
            }

            char c = s[p];
            int start = p;
            if (char.IsLetter(c) || c == '_')
            {
                while (p < s.Length && (char.IsLetterOrDigit(s[p]) || s[p] == '_')) p++;
                tokens.Add(new Token(TokenKind.Name, s[start..p], null, start));
            }
            else if (char.IsAsciiDigit(c))
            {
                tokens.Add(ReadNumber(source, ref p));
            }
            else if (c == '\'' || c == '"')
            {
                tokens.Add(ReadString(source, ref p));
            }
            else
            {
                string? op = null;
                foreach (var candidate in Operators)
                    if (string.CompareOrdinal(s, p, candidate, 0, candidate.Length) == 0) { op = candidate; break; }
                if (op is null) throw source.Error($"unexpected character '{c}' in a tag", p);
                if (op is "(" or "[" or "{") depth++;
                else if (op is ")" or "]" or "}") depth = Math.Max(0, depth - 1);
                tokens.Add(new Token(TokenKind.Operator, op, null, p));
                p += op.Length;
            }
        }
    }

    private static Token ReadNumber(SourceText source, ref int p)
    {
        string s = source.Text;
        int start = p;
        bool isFloat = false;
        while (p < s.Length && (char.IsAsciiDigit(s[p]) || s[p] == '_')) p++;
        if (p + 1 < s.Length && s[p] == '.' && char.IsAsciiDigit(s[p + 1]))
        {
            isFloat = true;
            p++;
            while (p < s.Length && (char.IsAsciiDigit(s[p]) || s[p] == '_')) p++;
        }
        if (p < s.Length && (s[p] == 'e' || s[p] == 'E'))
        {
            int q = p + 1;
            if (q < s.Length && (s[q] == '+' || s[q] == '-')) q++;
            if (q < s.Length && char.IsAsciiDigit(s[q]))
            {
                isFloat = true;
                p = q;
                while (p < s.Length && char.IsAsciiDigit(s[p])) p++;
            }
        }
        string text = s[start..p];
        string digits = text.Replace("_", "");
        if (isFloat)
            return new Token(TokenKind.Float, text, double.Parse(digits, NumberStyles.Float, CultureInfo.InvariantCulture), start);
        if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long value))
            throw source.Error($"integer literal {text} is too large", start);
        return new Token(TokenKind.Integer, text, value, start);
    }

    /// <summary>A string literal with Python's escapes (<c>\n \t \r \\ \' \" \xhh \uhhhh \Uhhhhhhhh</c>, octal); unknown escapes keep their backslash, as Python does.</summary>
    private static Token ReadString(SourceText source, ref int p)
    {
        string s = source.Text;
        int start = p;
        char quote = s[p++];
        var sb = new StringBuilder();
        while (true)
        {
            if (p >= s.Length) throw source.Error("unterminated string literal", start);
            char c = s[p++];
            if (c == quote) break;
            if (c != '\\') { sb.Append(c); continue; }
            if (p >= s.Length) throw source.Error("unterminated string literal", start);
            char e = s[p++];
            switch (e)
            {
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'r': sb.Append('\r'); break;
                case 'a': sb.Append('\a'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'v': sb.Append('\v'); break;
                case '\\': sb.Append('\\'); break;
                case '\'': sb.Append('\''); break;
                case '"': sb.Append('"'); break;
                case '\n': break; // a backslash-newline continues the literal
                case 'x': sb.Append(ReadHex(source, ref p, 2, start)); break;
                case 'u': sb.Append(ReadHex(source, ref p, 4, start)); break;
                case 'U': sb.Append(ReadHex(source, ref p, 8, start)); break;
                case >= '0' and <= '7':
                {
                    int value = e - '0';
                    for (int k = 0; k < 2 && p < s.Length && s[p] is >= '0' and <= '7'; k++) value = value * 8 + (s[p++] - '0');
                    sb.Append((char)value);
                    break;
                }
                default: sb.Append('\\').Append(e); break;
            }
        }
        return new Token(TokenKind.String, s[start..p], sb.ToString(), start);
    }

    private static string ReadHex(SourceText source, ref int p, int length, int literalStart)
    {
        string s = source.Text;
        if (p + length > s.Length || !int.TryParse(s.AsSpan(p, length), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int code)
            || code > 0x10FFFF)
            throw source.Error("invalid \\x, \\u or \\U escape in a string literal", literalStart);
        p += length;
        // A lone surrogate is a valid Python str character; keep it as one UTF-16 unit.
        return code is >= 0xD800 and <= 0xDFFF ? ((char)code).ToString() : char.ConvertFromUtf32(code);
    }
}
