using System.Text;
using PolicyKit.Templating.Runtime;

namespace PolicyKit.Templating.Syntax;

internal enum Flow { Normal, Break, Continue }

/// <summary>A statement node: writes its output and tells an enclosing loop about <c>break</c> and <c>continue</c>.</summary>
internal abstract class Stmt(int line, int column)
{
    public int Line { get; } = line;
    public int Column { get; } = column;

    public abstract Flow Execute(Scope scope, StringBuilder output);

    public static Flow ExecuteAll(Stmt[] body, Scope scope, StringBuilder output)
    {
        foreach (var statement in body)
        {
            var flow = statement.Execute(scope, output);
            if (flow != Flow.Normal) return flow;
        }
        return Flow.Normal;
    }

    protected ChatTemplateException Error(string message) => new(message, Line, Column);
}

internal sealed class TextStmt(string text, int line, int column) : Stmt(line, column)
{
    public string Text { get; } = text;

    public override Flow Execute(Scope scope, StringBuilder output)
    {
        output.Append(Text);
        return Flow.Normal;
    }
}

internal sealed class OutputStmt(Expr expr, int line, int column) : Stmt(line, column)
{
    public override Flow Execute(Scope scope, StringBuilder output)
    {
        var value = expr.Eval(scope);
        if (value is string s) output.Append(s);
        else output.Append(Py.Str(value));
        return Flow.Normal;
    }
}

internal sealed class IfStmt(Expr[] conditions, Stmt[][] bodies, Stmt[] otherwise, int line, int column) : Stmt(line, column)
{
    public override Flow Execute(Scope scope, StringBuilder output)
    {
        for (int i = 0; i < conditions.Length; i++)
            if (Py.IsTruthy(conditions[i].Eval(scope))) return ExecuteAll(bodies[i], scope, output);
        return ExecuteAll(otherwise, scope, output);
    }
}

/// <summary>Assignment targets: one name, or several names that unpack a sequence (<c>for k, v in ...</c>).</summary>
internal sealed class Targets(string[] names, bool unpack, int line, int column)
{
    public string[] Names { get; } = names;

    public void Bind(Scope scope, object? value)
    {
        if (!unpack)
        {
            scope.Set(Names[0], value);
            return;
        }
        IReadOnlyList<object?> items;
        try
        {
            items = Py.Iterate(value);
        }
        catch (TemplateError)
        {
            throw new ChatTemplateException($"cannot unpack non-iterable {Py.TypeName(value)} object", line, column);
        }
        if (items.Count != Names.Length)
            throw new ChatTemplateException(
                items.Count > Names.Length ? $"too many values to unpack (expected {Names.Length})" : $"not enough values to unpack (expected {Names.Length}, got {items.Count})",
                line, column);
        for (int i = 0; i < Names.Length; i++) scope.Set(Names[i], items[i]);
    }
}

/// <summary><c>{% for target in iterable if filter %}...{% else %}...{% endfor %}</c>; the loop has its own scope, as in Jinja.</summary>
internal sealed class ForStmt(Targets targets, Expr iterable, Expr? filter, Stmt[] body, Stmt[] otherwise, int line, int column) : Stmt(line, column)
{
    public override Flow Execute(Scope scope, StringBuilder output)
    {
        var value = iterable.Eval(scope);
        IReadOnlyList<object?> items;
        try
        {
            items = Py.Iterate(value);
        }
        catch (TemplateError e)
        {
            throw Error(e.Message);
        }
        var loopScope = new Scope(scope);
        if (filter is not null)
        {
            var kept = new List<object?>(items.Count);
            foreach (var item in items)
            {
                targets.Bind(loopScope, item);
                if (Py.IsTruthy(filter.Eval(loopScope))) kept.Add(item);
            }
            items = kept;
        }
        if (items.Count == 0) return ExecuteAll(otherwise, loopScope, output);

        var loop = new LoopInfo(items);
        loopScope.Set("loop", loop);
        for (int i = 0; i < items.Count; i++)
        {
            loop.Index0 = i;
            targets.Bind(loopScope, items[i]);
            if (ExecuteAll(body, loopScope, output) == Flow.Break) break;
        }
        return Flow.Normal;
    }
}

internal sealed class SetStmt(Targets targets, Expr value, int line, int column) : Stmt(line, column)
{
    public override Flow Execute(Scope scope, StringBuilder output)
    {
        targets.Bind(scope, value.Eval(scope));
        return Flow.Normal;
    }
}

/// <summary><c>{% set ns.attribute = value %}</c>: only a namespace() object takes attribute assignments.</summary>
internal sealed class SetAttributeStmt(Expr target, string attribute, Expr value, int line, int column) : Stmt(line, column)
{
    public override Flow Execute(Scope scope, StringBuilder output)
    {
        var owner = target.Eval(scope);
        if (owner is not Namespace ns) throw Error($"cannot assign attribute '{attribute}' on a {Py.TypeName(owner)} object: only namespace() objects take attribute assignments");
        ns.Attributes[attribute] = value.Eval(scope);
        return Flow.Normal;
    }
}

/// <summary><c>{% set name %}...{% endset %}</c>: the rendered body becomes a string variable.</summary>
internal sealed class SetBlockStmt(string name, Stmt[] body, int line, int column) : Stmt(line, column)
{
    public override Flow Execute(Scope scope, StringBuilder output)
    {
        var captured = new StringBuilder();
        ExecuteAll(body, scope, captured);
        scope.Set(name, captured.ToString());
        return Flow.Normal;
    }
}

internal sealed class LoopControlStmt(Flow flow, int line, int column) : Stmt(line, column)
{
    public override Flow Execute(Scope scope, StringBuilder output) => flow;
}

/// <summary><c>{% macro name(a, b=default) %}...{% endmacro %}</c>: defines a callable that renders its body to a string.</summary>
internal sealed class MacroStmt(string name, string[] parameters, Expr?[] defaults, Stmt[] body, int line, int column) : Stmt(line, column)
{
    private string MacroName { get; } = name;
    private string[] Parameters { get; } = parameters;
    private Expr?[] Defaults { get; } = defaults;
    private Stmt[] Body { get; } = body;

    public override Flow Execute(Scope scope, StringBuilder output)
    {
        scope.Set(MacroName, new Macro(this, scope));
        return Flow.Normal;
    }

    /// <summary>How deep macros may call each other (Python stops recursion near 1000 frames); past it, an error, not a stack overflow.</summary>
    public const int MaxCallDepth = 200;

    [ThreadStatic] private static int t_callDepth;

    private sealed class Macro(MacroStmt definition, Scope definedIn) : ICallable
    {
        public string Name => definition.MacroName;

        public object? Call(CallArgs args)
        {
            if (t_callDepth >= MaxCallDepth) throw new TemplateError($"macro '{Name}' recursed deeper than {MaxCallDepth} calls");
            t_callDepth++;
            try
            {
                return Invoke(args);
            }
            finally
            {
                t_callDepth--;
            }
        }

        private string Invoke(CallArgs args)
        {
            var parameters = definition.Parameters;
            if (args.Positional.Count > parameters.Length)
                throw new TemplateError($"macro '{Name}' takes {parameters.Length} argument(s), got {args.Positional.Count}");
            var scope = new Scope(definedIn);
            var bound = new bool[parameters.Length];
            for (int i = 0; i < args.Positional.Count; i++)
            {
                scope.Set(parameters[i], args.Positional[i]);
                bound[i] = true;
            }
            foreach (var pair in args.Keywords)
            {
                int index = Array.IndexOf(parameters, pair.Key);
                if (index < 0) throw new TemplateError($"macro '{Name}' has no parameter named '{pair.Key}'");
                if (bound[index]) throw new TemplateError($"macro '{Name}' got multiple values for parameter '{pair.Key}'");
                scope.Set(pair.Key, pair.Value);
                bound[index] = true;
            }
            for (int i = 0; i < parameters.Length; i++)
            {
                if (bound[i]) continue;
                scope.Set(parameters[i], definition.Defaults[i] is { } fallback ? fallback.Eval(scope) : Undefined.Variable(parameters[i]));
            }
            var output = new StringBuilder();
            ExecuteAll(definition.Body, scope, output);
            return output.ToString();
        }
    }
}
