using PolicyKit.Templating.Runtime;

namespace PolicyKit.Templating.Syntax;

/// <summary>
/// Recursive-descent parser with Jinja's grammar and operator precedence (conditional, or, and, not, comparisons,
/// + -, ~, * / // %, **, unary, then filters, tests and postfix access). Anything outside the supported subset is
/// refused here, by name, so that a template fails at load and not halfway through a request.
/// </summary>
internal sealed class Parser
{
    private static readonly HashSet<string> RefusedTags = new(StringComparer.Ordinal)
    {
        "include", "import", "from", "extends", "block", "call", "filter", "raw", "with", "do", "autoescape", "trans", "pluralize",
    };

    private static readonly HashSet<string> EndTags = new(StringComparer.Ordinal)
    {
        "elif", "else", "endif", "endfor", "endset", "endmacro", "endgeneration", "endblock", "endcall", "endfilter", "endraw", "endwith",
    };

    private readonly SourceText _source;
    private readonly List<Piece> _pieces;
    private readonly HashSet<string> _callableNames = new(StringComparer.Ordinal);
    private int _piece;
    private IReadOnlyList<Token> _tokens = [];
    private int _token;
    private int _loopDepth;
    private int _blockDepth;

    private Parser(SourceText source, List<Piece> pieces)
    {
        _source = source;
        _pieces = pieces;
        // Macros may be called before the line that defines them is reached in the source (from another macro).
        foreach (var piece in pieces)
            if (piece is TagPiece { Kind: TagKind.Block, Tokens: [{ Kind: TokenKind.Name, Text: "macro" }, { Kind: TokenKind.Name } name, ..] tokens })
            {
                _callableNames.Add(name.Text);
                foreach (var token in tokens) if (token.Kind == TokenKind.Name) _callableNames.Add(token.Text); // parameters may hold macros
            }
    }

    public static Stmt[] Parse(SourceText source)
    {
        var parser = new Parser(source, Lexer.Lex(source));
        var body = parser.ParseBody(out var end);
        if (end is not null) throw parser.ErrorAt(end.Value, $"unexpected '{end.Value.Text}': there is no open block for it");
        return body;
    }

    // ---------------------------------------------------------------- statements

    /// <summary>Parses until the end of the template or a closing tag, which is returned (unconsumed tokens after its name).</summary>
    private Stmt[] ParseBody(out Token? endTag, params string[] ends)
    {
        if (++_blockDepth > MaxNesting) throw new ChatTemplateException($"blocks nested deeper than {MaxNesting} levels");
        try
        {
            return ParseBlockContents(out endTag, ends);
        }
        finally
        {
            _blockDepth--;
        }
    }

    private Stmt[] ParseBlockContents(out Token? endTag, string[] ends)
    {
        var body = new List<Stmt>();
        endTag = null;
        while (_piece < _pieces.Count)
        {
            var piece = _pieces[_piece++];
            if (piece is TextPiece text)
            {
                var (line, column) = _source.Position(text.Offset);
                body.Add(new TextStmt(text.Text, line, column));
                continue;
            }
            var tag = (TagPiece)piece;
            _tokens = tag.Tokens;
            _token = 0;
            if (tag.Kind == TagKind.Output)
            {
                var start = Current;
                if (start.Kind == TokenKind.End) throw ErrorAt(start, "empty expression '{{ }}'");
                var expr = ParseExpression();
                ExpectEnd("'}}'");
                var (line, column) = _source.Position(start.Offset);
                body.Add(new OutputStmt(expr, line, column));
                continue;
            }
            var keyword = Current;
            if (keyword.Kind != TokenKind.Name) throw ErrorAt(keyword, $"expected a tag name after '{{%', found {keyword.Describe()}");
            if (EndTags.Contains(keyword.Text))
            {
                if (Array.IndexOf(ends, keyword.Text) < 0)
                    throw ErrorAt(keyword, ends.Length == 0
                        ? $"unexpected '{keyword.Text}': there is no open block for it"
                        : $"unexpected '{keyword.Text}': expected {string.Join(" or ", ends.Select(e => $"'{e}'"))}");
                _token++;
                endTag = keyword;
                return body.ToArray();
            }
            _token++;
            var statement = ParseStatement(keyword);
            if (statement is not null) body.Add(statement);
        }
        if (ends.Length > 0)
            throw new ChatTemplateException($"unexpected end of template: expected {string.Join(" or ", ends.Select(e => $"'{e}'"))}");
        return body.ToArray();
    }

    private Stmt? ParseStatement(Token keyword)
    {
        var (line, column) = _source.Position(keyword.Offset);
        switch (keyword.Text)
        {
            case "if": return ParseIf(line, column);
            case "for": return ParseFor(line, column);
            case "set": return ParseSet(line, column);
            case "macro": return ParseMacro(line, column);
            case "break":
            case "continue":
                if (_loopDepth == 0) throw ErrorAt(keyword, $"'{keyword.Text}' outside of a for loop");
                ExpectEnd("'%}'");
                return new LoopControlStmt(keyword.Text == "break" ? Flow.Break : Flow.Continue, line, column);
            case "generation":
            {
                // transformers' {% generation %} marks assistant text for masks; for rendering it is a plain block.
                ExpectEnd("'%}'");
                var body = ParseBody(out _, "endgeneration");
                ExpectEnd("'%}'");
                return new IfStmt([new LiteralExpr(true, line, column)], [body], [], line, column);
            }
            default:
                if (RefusedTags.Contains(keyword.Text))
                    throw ErrorAt(keyword, $"the '{keyword.Text}' tag is not supported by PolicyKit chat templates");
                throw ErrorAt(keyword, $"unknown tag '{keyword.Text}'");
        }
    }

    private Stmt ParseIf(int line, int column)
    {
        var conditions = new List<Expr>();
        var bodies = new List<Stmt[]>();
        Stmt[] otherwise = [];
        conditions.Add(ParseExpression());
        ExpectEnd("'%}'");
        while (true)
        {
            var body = ParseBody(out var end, "elif", "else", "endif");
            bodies.Add(body);
            if (end!.Value.Text == "elif")
            {
                conditions.Add(ParseExpression());
                ExpectEnd("'%}'");
                continue;
            }
            if (end.Value.Text == "else")
            {
                ExpectEnd("'%}'");
                otherwise = ParseBody(out _, "endif");
            }
            ExpectEnd("'%}'");
            break;
        }
        return new IfStmt(conditions.ToArray(), bodies.ToArray(), otherwise, line, column);
    }

    private Stmt ParseFor(int line, int column)
    {
        var targets = ParseTargets(allowAttribute: false, out _);
        if (!Current.IsName("in")) throw ErrorAt(Current, $"expected 'in' in the for loop, found {Current.Describe()}");
        _token++;
        // The iterable cannot be a bare conditional expression: a trailing 'if' filters the loop instead.
        var iterable = ParseOr();
        Expr? filter = null;
        if (Current.IsName("if"))
        {
            _token++;
            filter = ParseExpression();
        }
        if (Current.IsName("recursive")) throw ErrorAt(Current, "recursive for loops are not supported by PolicyKit chat templates");
        ExpectEnd("'%}'");
        _loopDepth++;
        var body = ParseBody(out var end, "else", "endfor");
        _loopDepth--;
        Stmt[] otherwise = [];
        if (end!.Value.Text == "else")
        {
            ExpectEnd("'%}'");
            otherwise = ParseBody(out _, "endfor");
        }
        ExpectEnd("'%}'");
        return new ForStmt(targets!, iterable, filter, body, otherwise, line, column);
    }

    private Stmt ParseSet(int line, int column)
    {
        var start = Current;
        var targets = ParseTargets(allowAttribute: true, out var attribute);
        if (Current.IsOperator("="))
        {
            _token++;
            var value = ParseTupleOrExpression();
            ExpectEnd("'%}'");
            if (attribute is not null) return new SetAttributeStmt(attribute.Value.Owner, attribute.Value.Name, value, line, column);
            return new SetStmt(targets!, value, line, column);
        }
        if (Current.IsOperator("|")) throw ErrorAt(Current, "filters on a block set ('{% set x | filter %}') are not supported by PolicyKit chat templates");
        if (attribute is not null || targets!.Names.Length != 1) throw ErrorAt(start, "a block set ('{% set name %}...{% endset %}') takes a single name");
        ExpectEnd("'=' or '%}'");
        var body = ParseBody(out _, "endset");
        ExpectEnd("'%}'");
        return new SetBlockStmt(targets.Names[0], body, line, column);
    }

    private Targets? ParseTargets(bool allowAttribute, out (Expr Owner, string Name)? attribute)
    {
        attribute = null;
        var first = Current;
        bool parenthesized = first.IsOperator("(");
        if (parenthesized) _token++;
        var names = new List<string>();
        while (true)
        {
            var name = Current;
            if (name.Kind != TokenKind.Name) throw ErrorAt(name, $"expected a variable name, found {name.Describe()}");
            _token++;
            if (allowAttribute && names.Count == 0 && !parenthesized && Current.IsOperator("."))
            {
                _token++;
                var member = Current;
                if (member.Kind != TokenKind.Name) throw ErrorAt(member, $"expected an attribute name, found {member.Describe()}");
                _token++;
                if (Current.IsOperator(".")) throw ErrorAt(Current, "only one level of attribute assignment ('ns.name = ...') is supported");
                var (l, c) = _source.Position(name.Offset);
                attribute = (new NameExpr(name.Text, l, c), member.Text);
                return null;
            }
            names.Add(name.Text);
            if (!Current.IsOperator(",")) break;
            _token++;
        }
        if (parenthesized)
        {
            if (!Current.IsOperator(")")) throw ErrorAt(Current, $"expected ')', found {Current.Describe()}");
            _token++;
        }
        var (line, column) = _source.Position(first.Offset);
        // "(k)" is just k, as in Python; only several names unpack.
        return new Targets(names.ToArray(), unpack: names.Count > 1, line, column);
    }

    private Stmt ParseMacro(int line, int column)
    {
        var name = Current;
        if (name.Kind != TokenKind.Name) throw ErrorAt(name, $"expected the macro's name, found {name.Describe()}");
        _token++;
        Expect("(");
        var parameters = new List<string>();
        var defaults = new List<Expr?>();
        while (!Current.IsOperator(")"))
        {
            if (parameters.Count > 0) Expect(",");
            if (Current.IsOperator("*") || Current.IsOperator("**")) throw ErrorAt(Current, "*args and **kwargs in macros are not supported by PolicyKit chat templates");
            var parameter = Current;
            if (parameter.Kind != TokenKind.Name) throw ErrorAt(parameter, $"expected a parameter name, found {parameter.Describe()}");
            _token++;
            parameters.Add(parameter.Text);
            if (Current.IsOperator("="))
            {
                _token++;
                defaults.Add(ParseExpression());
            }
            else defaults.Add(null);
        }
        _token++;
        ExpectEnd("'%}'");
        int savedLoopDepth = _loopDepth;
        _loopDepth = 0;
        var body = ParseBody(out _, "endmacro");
        _loopDepth = savedLoopDepth;
        ExpectEnd("'%}'");
        return new MacroStmt(name.Text, parameters.ToArray(), defaults.ToArray(), body, line, column);
    }

    // ---------------------------------------------------------------- expressions

    private Token Current => _tokens[Math.Min(_token, _tokens.Count - 1)];

    private Token Peek(int ahead) => _tokens[Math.Min(_token + ahead, _tokens.Count - 1)];

    private (int Line, int Column) Position(Token token) => _source.Position(token.Offset);

    private ChatTemplateException ErrorAt(Token token, string message) => _source.Error(message, token.Offset);

    private void Expect(string op)
    {
        if (!Current.IsOperator(op)) throw ErrorAt(Current, $"expected '{op}', found {Current.Describe()}");
        _token++;
    }

    private void ExpectEnd(string what)
    {
        if (Current.Kind != TokenKind.End) throw ErrorAt(Current, $"expected {what}, found {Current.Describe()}");
        _token++;
    }

    /// <summary>An expression, or a tuple without parentheses (<c>a, b</c>) as Jinja allows on the right of set.</summary>
    private Expr ParseTupleOrExpression()
    {
        var first = Current;
        var expr = ParseExpression();
        if (!Current.IsOperator(",")) return expr;
        var items = new List<Expr> { expr };
        while (Current.IsOperator(","))
        {
            _token++;
            if (Current.Kind == TokenKind.End) break;
            items.Add(ParseExpression());
        }
        var (line, column) = Position(first);
        return new ListExpr(items.ToArray(), isTuple: true, line, column);
    }

    /// <summary>Expressions nest (parentheses, brackets, calls) at most this deep, so a hostile template cannot overflow the stack.</summary>
    public const int MaxNesting = 100;

    private int _nesting;

    private Expr ParseExpression()
    {
        if (++_nesting > MaxNesting) throw ErrorAt(Current, $"expression nested deeper than {MaxNesting} levels");
        try
        {
            return ParseConditional();
        }
        finally
        {
            _nesting--;
        }
    }

    private Expr ParseConditional()
    {
        var expr = ParseOr();
        while (Current.IsName("if"))
        {
            var (line, column) = Position(Current);
            _token++;
            var condition = ParseOr();
            Expr? otherwise = null;
            if (Current.IsName("else"))
            {
                _token++;
                otherwise = ParseExpression();
            }
            expr = new ConditionalExpr(condition, expr, otherwise, line, column);
        }
        return expr;
    }

    private Expr ParseOr()
    {
        var left = ParseAnd();
        while (Current.IsName("or"))
        {
            var (line, column) = Position(Current);
            _token++;
            left = new LogicalExpr(false, left, ParseAnd(), line, column);
        }
        return left;
    }

    private Expr ParseAnd()
    {
        var left = ParseNot();
        while (Current.IsName("and"))
        {
            var (line, column) = Position(Current);
            _token++;
            left = new LogicalExpr(true, left, ParseNot(), line, column);
        }
        return left;
    }

    private Expr ParseNot()
    {
        if (Current.IsName("not"))
        {
            var (line, column) = Position(Current);
            _token++;
            if (++_nesting > MaxNesting) throw ErrorAt(Current, $"expression nested deeper than {MaxNesting} levels");
            var operand = ParseNot();
            _nesting--;
            return new NotExpr(operand, line, column);
        }
        return ParseCompare();
    }

    private Expr ParseCompare()
    {
        var start = Current;
        var first = ParseMath1();
        var ops = new List<string>();
        var operands = new List<Expr>();
        while (true)
        {
            var token = Current;
            if (token.Kind == TokenKind.Operator && token.Text is "==" or "!=" or "<" or ">" or "<=" or ">=")
            {
                _token++;
                ops.Add(token.Text);
            }
            else if (token.IsName("in"))
            {
                _token++;
                ops.Add("in");
            }
            else if (token.IsName("not") && Peek(1).IsName("in"))
            {
                _token += 2;
                ops.Add("not in");
            }
            else break;
            operands.Add(ParseMath1());
        }
        if (ops.Count == 0) return first;
        var (line, column) = Position(start);
        return new CompareExpr(first, ops.ToArray(), operands.ToArray(), line, column);
    }

    private Expr ParseMath1()
    {
        var left = ParseConcat();
        while (Current.IsOperator("+") || Current.IsOperator("-"))
        {
            var op = Current;
            _token++;
            var (line, column) = Position(op);
            left = new BinaryExpr(op.Text, left, ParseConcat(), line, column);
        }
        return left;
    }

    private Expr ParseConcat()
    {
        var start = Current;
        var first = ParseMath2();
        if (!Current.IsOperator("~")) return first;
        var parts = new List<Expr> { first };
        while (Current.IsOperator("~"))
        {
            _token++;
            parts.Add(ParseMath2());
        }
        var (line, column) = Position(start);
        return new ConcatExpr(parts.ToArray(), line, column);
    }

    private Expr ParseMath2()
    {
        var left = ParsePow();
        while (Current.Kind == TokenKind.Operator && Current.Text is "*" or "/" or "//" or "%")
        {
            var op = Current;
            _token++;
            var (line, column) = Position(op);
            left = new BinaryExpr(op.Text, left, ParsePow(), line, column);
        }
        return left;
    }

    private Expr ParsePow()
    {
        var left = ParseUnary(withFilter: true);
        while (Current.IsOperator("**"))
        {
            var op = Current;
            _token++;
            var (line, column) = Position(op);
            left = new BinaryExpr("**", left, ParseUnary(withFilter: true), line, column);
        }
        return left;
    }

    private Expr ParseUnary(bool withFilter)
    {
        var token = Current;
        Expr node;
        if (token.IsOperator("-") || token.IsOperator("+"))
        {
            _token++;
            var (line, column) = Position(token);
            if (++_nesting > MaxNesting) throw ErrorAt(token, $"expression nested deeper than {MaxNesting} levels");
            node = new NegateExpr(ParseUnary(withFilter: false), token.Text == "-", line, column);
            _nesting--;
        }
        else node = ParsePrimary();
        node = ParsePostfix(node);
        return withFilter ? ParseFilterAndTest(node) : node;
    }

    private Expr ParsePrimary()
    {
        var token = Current;
        var (line, column) = Position(token);
        switch (token.Kind)
        {
            case TokenKind.Name:
                _token++;
                return token.Text switch
                {
                    "true" or "True" => new LiteralExpr(true, line, column),
                    "false" or "False" => new LiteralExpr(false, line, column),
                    "none" or "None" => new LiteralExpr(null, line, column),
                    _ => new NameExpr(token.Text, line, column),
                };
            case TokenKind.String:
            {
                // Adjacent literals concatenate, as in Python: 'a' 'b' is 'ab'.
                var text = (string)token.Value!;
                _token++;
                while (Current.Kind == TokenKind.String)
                {
                    text += (string)Current.Value!;
                    _token++;
                }
                return new LiteralExpr(text, line, column);
            }
            case TokenKind.Integer:
            case TokenKind.Float:
                _token++;
                return new LiteralExpr(token.Value, line, column);
            case TokenKind.Operator when token.Text == "(":
            {
                _token++;
                if (Current.IsOperator(")"))
                {
                    _token++;
                    return new ListExpr([], isTuple: true, line, column);
                }
                var first = ParseExpression();
                if (Current.IsOperator(")"))
                {
                    _token++;
                    return first;
                }
                var items = new List<Expr> { first };
                while (Current.IsOperator(","))
                {
                    _token++;
                    if (Current.IsOperator(")")) break;
                    items.Add(ParseExpression());
                }
                Expect(")");
                return new ListExpr(items.ToArray(), isTuple: true, line, column);
            }
            case TokenKind.Operator when token.Text == "[":
            {
                _token++;
                var items = new List<Expr>();
                while (!Current.IsOperator("]"))
                {
                    if (items.Count > 0)
                    {
                        Expect(",");
                        if (Current.IsOperator("]")) break;
                    }
                    items.Add(ParseExpression());
                }
                _token++;
                return new ListExpr(items.ToArray(), isTuple: false, line, column);
            }
            case TokenKind.Operator when token.Text == "{":
            {
                _token++;
                var pairs = new List<KeyValuePair<Expr, Expr>>();
                while (!Current.IsOperator("}"))
                {
                    if (pairs.Count > 0)
                    {
                        Expect(",");
                        if (Current.IsOperator("}")) break;
                    }
                    var key = ParseExpression();
                    Expect(":");
                    pairs.Add(new(key, ParseExpression()));
                }
                _token++;
                return new DictExpr(pairs.ToArray(), line, column);
            }
            case TokenKind.End:
                throw ErrorAt(token, "unexpected end of the tag: an expression is missing");
            default:
                throw ErrorAt(token, $"unexpected {token.Describe()}");
        }
    }

    private Expr ParsePostfix(Expr node)
    {
        while (true)
        {
            var token = Current;
            var (line, column) = Position(token);
            if (token.IsOperator("."))
            {
                _token++;
                var member = Current;
                if (member.Kind == TokenKind.Name)
                {
                    _token++;
                    node = new GetAttrExpr(node, member.Text, line, column);
                }
                else if (member.Kind == TokenKind.Integer)
                {
                    _token++;
                    node = new GetItemExpr(node, new LiteralExpr(member.Value, line, column), line, column);
                }
                else throw ErrorAt(member, $"expected an attribute name after '.', found {member.Describe()}");
            }
            else if (token.IsOperator("["))
            {
                _token++;
                node = ParseSubscript(node, line, column);
            }
            else if (token.IsOperator("("))
            {
                node = ParseCall(node);
            }
            else return node;
        }
    }

    private Expr ParseSubscript(Expr target, int line, int column)
    {
        Expr? start = null, stop = null, step = null;
        if (!Current.IsOperator(":")) start = ParseExpression();
        if (Current.IsOperator("]"))
        {
            _token++;
            return new GetItemExpr(target, start!, line, column);
        }
        Expect(":");
        if (!Current.IsOperator(":") && !Current.IsOperator("]")) stop = ParseExpression();
        if (Current.IsOperator(":"))
        {
            _token++;
            if (!Current.IsOperator("]")) step = ParseExpression();
        }
        Expect("]");
        return new SliceExpr(target, start, stop, step, line, column);
    }

    private Expr ParseCall(Expr callee)
    {
        var open = Current;
        var (line, column) = Position(open);
        // Refuse what cannot work before the template is ever rendered.
        switch (callee)
        {
            case GetAttrExpr member when !Methods.IsKnown(member.Name):
                throw ErrorAt(open, $"the method '{member.Name}()' is not supported by PolicyKit chat templates");
            case NameExpr name when !Evaluator.IsGlobalFunction(name.Name) && !_callableNames.Contains(name.Name):
                throw ErrorAt(open, Evaluator.RefusedGlobals.Contains(name.Name)
                    ? $"the function '{name.Name}()' is not supported by PolicyKit chat templates"
                    : $"unknown function '{name.Name}()': not a builtin (range, namespace, dict, raise_exception, strftime_now) nor a macro of this template");
        }
        return new CallExpr(callee, ParseArgs(), line, column);
    }

    private ArgList ParseArgs()
    {
        Expect("(");
        var positional = new List<Expr>();
        var keywords = new List<KeyValuePair<string, Expr>>();
        while (!Current.IsOperator(")"))
        {
            if (positional.Count + keywords.Count > 0)
            {
                Expect(",");
                if (Current.IsOperator(")")) break;
            }
            if (Current.IsOperator("*") || Current.IsOperator("**")) throw ErrorAt(Current, "argument unpacking (*args, **kwargs) is not supported by PolicyKit chat templates");
            if (Current.Kind == TokenKind.Name && Peek(1).IsOperator("="))
            {
                string key = Current.Text;
                _token += 2;
                keywords.Add(new(key, ParseExpression()));
            }
            else
            {
                if (keywords.Count > 0) throw ErrorAt(Current, "positional argument follows keyword argument");
                positional.Add(ParseExpression());
            }
        }
        _token++;
        return new ArgList(positional.ToArray(), keywords.ToArray());
    }

    private Expr ParseFilterAndTest(Expr node)
    {
        while (true)
        {
            var token = Current;
            if (token.IsOperator("|"))
            {
                _token++;
                var name = Current;
                if (name.Kind != TokenKind.Name) throw ErrorAt(name, $"expected a filter name after '|', found {name.Describe()}");
                _token++;
                if (!Filters.TryGet(name.Text, out var filter))
                    throw ErrorAt(name, Filters.Refused.Contains(name.Text)
                        ? $"the filter '{name.Text}' is not supported by PolicyKit chat templates"
                        : $"unknown filter '{name.Text}'");
                var args = Current.IsOperator("(") ? ParseArgs() : ArgList.None;
                var (line, column) = Position(name);
                node = new FilterExpr(node, name.Text, filter, args, line, column);
            }
            else if (token.IsName("is"))
            {
                _token++;
                bool negated = false;
                if (Current.IsName("not"))
                {
                    negated = true;
                    _token++;
                }
                var name = Current;
                if (name.Kind != TokenKind.Name && !(name.Kind == TokenKind.Operator && name.Text is "==" or "!=" or "<" or "<=" or ">" or ">="))
                    throw ErrorAt(name, $"expected a test name after 'is', found {name.Describe()}");
                _token++;
                if (!Tests.TryGet(name.Text, out var test))
                    throw ErrorAt(name, Tests.Refused.Contains(name.Text)
                        ? $"the test '{name.Text}' is not supported by PolicyKit chat templates"
                        : $"unknown test '{name.Text}'");
                ArgList args = ArgList.None;
                if (Current.IsOperator("(")) args = ParseArgs();
                else if (StartsBareTestArgument(Current))
                    args = new ArgList([ParsePostfix(ParsePrimary())], []);
                var (line, column) = Position(name);
                node = new TestExpr(node, name.Text, test, args, negated, line, column);
            }
            else if (token.IsOperator("("))
            {
                node = ParseCall(node);
            }
            else return node;
        }
    }

    /// <summary>Jinja lets a test take one argument without parentheses (<c>x is divisibleby 3</c>), unless the next word is else, or, and.</summary>
    private static bool StartsBareTestArgument(Token token) => token.Kind switch
    {
        TokenKind.String or TokenKind.Integer or TokenKind.Float => true,
        TokenKind.Name => token.Text is not ("else" or "or" or "and" or "if" or "is" or "in" or "not"),
        TokenKind.Operator => token.Text is "[" or "{",
        _ => false,
    };
}
