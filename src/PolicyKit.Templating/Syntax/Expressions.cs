using System.Text;
using PolicyKit.Templating.Runtime;

namespace PolicyKit.Templating.Syntax;

/// <summary>An expression node; it knows its position so that runtime errors can name a line and column.</summary>
internal abstract class Expr(int line, int column)
{
    public int Line { get; } = line;
    public int Column { get; } = column;

    public object? Eval(Scope scope)
    {
        try
        {
            return EvalCore(scope);
        }
        catch (TemplateError e)
        {
            throw new ChatTemplateException(e.Message, Line, Column, e);
        }
        catch (Evaluator.RaisedException e)
        {
            throw new ChatTemplateException(e.Message, Line, Column, e) { RaisedByTemplate = true };
        }
    }

    protected abstract object? EvalCore(Scope scope);
}

internal sealed class LiteralExpr(object? value, int line, int column) : Expr(line, column)
{
    public object? Value { get; } = value;
    protected override object? EvalCore(Scope scope) => Value;
}

internal sealed class NameExpr(string name, int line, int column) : Expr(line, column)
{
    public string Name { get; } = name;
    protected override object? EvalCore(Scope scope) => scope.Lookup(Name);
}

internal sealed class GetAttrExpr(Expr target, string name, int line, int column) : Expr(line, column)
{
    public Expr Target { get; } = target;
    public string Name { get; } = name;
    protected override object? EvalCore(Scope scope) => Evaluator.GetAttribute(Target.Eval(scope), Name);
}

internal sealed class GetItemExpr(Expr target, Expr key, int line, int column) : Expr(line, column)
{
    protected override object? EvalCore(Scope scope) => Evaluator.GetItem(target.Eval(scope), key.Eval(scope));
}

internal sealed class SliceExpr(Expr target, Expr? start, Expr? stop, Expr? step, int line, int column) : Expr(line, column)
{
    protected override object? EvalCore(Scope scope) =>
        Evaluator.Slice(target.Eval(scope), start?.Eval(scope), stop?.Eval(scope), step?.Eval(scope));
}

/// <summary>Arguments as written at a call site, evaluated left to right, positional first.</summary>
internal sealed class ArgList(Expr[] positional, KeyValuePair<string, Expr>[] keywords)
{
    public static readonly ArgList None = new([], []);

    public CallArgs Eval(Scope scope)
    {
        if (positional.Length == 0 && keywords.Length == 0) return CallArgs.Empty;
        var values = new List<object?>(positional.Length);
        foreach (var arg in positional) values.Add(arg.Eval(scope));
        var named = new List<KeyValuePair<string, object?>>(keywords.Length);
        foreach (var pair in keywords) named.Add(new(pair.Key, pair.Value.Eval(scope)));
        return new CallArgs(values, named);
    }
}

internal sealed class CallExpr(Expr callee, ArgList args, int line, int column) : Expr(line, column)
{
    protected override object? EvalCore(Scope scope)
    {
        // The common case, message.content.startswith(...): call the method without allocating a bound callable.
        if (callee is GetAttrExpr member)
        {
            var owner = member.Target.Eval(scope);
            if (owner is string or Dictionary<string, object?>)
            {
                var evaluated = args.Eval(scope);
                if (Methods.TryInvoke(owner, member.Name, evaluated, out var result)) return result;
            }
        }
        var target = callee.Eval(scope);
        return target switch
        {
            ICallable callable => callable.Call(args.Eval(scope)),
            Undefined u => throw new TemplateError(u.Hint),
            _ => throw new TemplateError($"'{Py.TypeName(target)}' object is not callable"),
        };
    }
}

internal sealed class FilterExpr(Expr operand, string name, Filters.Filter filter, ArgList args, int line, int column) : Expr(line, column)
{
    protected override object? EvalCore(Scope scope)
    {
        var value = operand.Eval(scope);
        try
        {
            return filter(value, args.Eval(scope));
        }
        catch (TemplateError e) when (!e.Message.StartsWith(name, StringComparison.Ordinal))
        {
            throw new TemplateError($"filter '{name}': {e.Message}");
        }
    }
}

internal sealed class TestExpr(Expr operand, string name, Tests.Test test, ArgList args, bool negated, int line, int column) : Expr(line, column)
{
    protected override object? EvalCore(Scope scope)
    {
        var value = operand.Eval(scope);
        try
        {
            return test(value, args.Eval(scope)) != negated;
        }
        catch (TemplateError e)
        {
            throw new TemplateError($"test '{name}': {e.Message}");
        }
    }
}

internal sealed class NotExpr(Expr operand, int line, int column) : Expr(line, column)
{
    protected override object? EvalCore(Scope scope) => !Py.IsTruthy(operand.Eval(scope));
}

internal sealed class NegateExpr(Expr operand, bool minus, int line, int column) : Expr(line, column)
{
    protected override object? EvalCore(Scope scope)
    {
        var value = operand.Eval(scope);
        return value switch
        {
            long l => (object)(minus ? -l : l),
            bool b => (object)(minus ? -(b ? 1L : 0L) : (b ? 1L : 0L)),
            double d => (object)(minus ? -d : d),
            Undefined u => throw new TemplateError(u.Hint),
            _ => throw new TemplateError($"bad operand type for unary {(minus ? '-' : '+')}: '{Py.TypeName(value)}'"),
        };
    }
}

internal sealed class BinaryExpr(string op, Expr left, Expr right, int line, int column) : Expr(line, column)
{
    protected override object? EvalCore(Scope scope) => Evaluator.Arithmetic(op, left.Eval(scope), right.Eval(scope));
}

/// <summary><c>a ~ b ~ c</c>: each part converted with <c>str()</c> and joined.</summary>
internal sealed class ConcatExpr(Expr[] parts, int line, int column) : Expr(line, column)
{
    protected override object? EvalCore(Scope scope)
    {
        var sb = new StringBuilder();
        foreach (var part in parts) sb.Append(Py.Str(part.Eval(scope)));
        return sb.ToString();
    }
}

/// <summary>A comparison chain, <c>a &lt; b &lt;= c</c>, as Python evaluates it (each operand once, stop at the first false).</summary>
internal sealed class CompareExpr(Expr first, string[] ops, Expr[] operands, int line, int column) : Expr(line, column)
{
    protected override object? EvalCore(Scope scope)
    {
        var left = first.Eval(scope);
        for (int i = 0; i < ops.Length; i++)
        {
            var right = operands[i].Eval(scope);
            bool result = ops[i] switch
            {
                "==" => Py.Equal(left, right),
                "!=" => !Py.Equal(left, right),
                "<" => Py.Compare(left, right, "<") < 0,
                "<=" => Py.Compare(left, right, "<=") <= 0,
                ">" => Py.Compare(left, right, ">") > 0,
                ">=" => Py.Compare(left, right, ">=") >= 0,
                "in" => Py.Contains(right, left),
                _ => !Py.Contains(right, left), // "not in"
            };
            if (!result) return false;
            left = right;
        }
        return true;
    }
}

/// <summary><c>and</c> / <c>or</c>: Python's short circuit, returning the deciding operand itself.</summary>
internal sealed class LogicalExpr(bool isAnd, Expr left, Expr right, int line, int column) : Expr(line, column)
{
    protected override object? EvalCore(Scope scope)
    {
        var value = left.Eval(scope);
        return Py.IsTruthy(value) == isAnd ? right.Eval(scope) : value;
    }
}

/// <summary><c>a if condition else b</c>; without <c>else</c> the value is undefined when the condition is false.</summary>
internal sealed class ConditionalExpr(Expr condition, Expr then, Expr? otherwise, int line, int column) : Expr(line, column)
{
    protected override object? EvalCore(Scope scope) =>
        Py.IsTruthy(condition.Eval(scope)) ? then.Eval(scope) : otherwise is null ? new Undefined("the conditional expression evaluated to false and has no else") : otherwise.Eval(scope);
}

internal sealed class ListExpr(Expr[] items, bool isTuple, int line, int column) : Expr(line, column)
{
    public Expr[] Items { get; } = items;
    public bool IsTuple { get; } = isTuple;

    protected override object? EvalCore(Scope scope)
    {
        var values = new object?[Items.Length];
        for (int i = 0; i < Items.Length; i++) values[i] = Items[i].Eval(scope);
        return IsTuple ? values : values.ToList();
    }
}

internal sealed class DictExpr(KeyValuePair<Expr, Expr>[] pairs, int line, int column) : Expr(line, column)
{
    protected override object? EvalCore(Scope scope)
    {
        var dict = new Dictionary<string, object?>(pairs.Length, StringComparer.Ordinal);
        foreach (var pair in pairs)
        {
            var key = pair.Key.Eval(scope);
            if (key is not string name) throw new TemplateError($"dict keys must be strings in this subset, got {Py.TypeName(key)}");
            dict[name] = pair.Value.Eval(scope);
        }
        return dict;
    }
}
