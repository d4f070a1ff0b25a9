using System.Globalization;

namespace PolicyKit.Templating.Runtime;

/// <summary>Variables visible at one point of a render: a chain of scopes (for loops and macros open one), then the globals.</summary>
internal sealed class Scope
{
    private readonly Dictionary<string, object?> _variables;
    private readonly Scope? _parent;

    public Scope(Scope? parent, Dictionary<string, object?>? variables = null)
    {
        _parent = parent;
        _variables = variables ?? new Dictionary<string, object?>(StringComparer.Ordinal);
        Globals = parent?.Globals ?? Evaluator.Globals;
    }

    public IReadOnlyDictionary<string, object?> Globals { get; }

    public object? Lookup(string name)
    {
        for (var scope = this; scope is not null; scope = scope._parent)
            if (scope._variables.TryGetValue(name, out var value)) return value;
        return Globals.TryGetValue(name, out var global) ? global : Undefined.Variable(name);
    }

    public void Set(string name, object? value) => _variables[name] = value;
}

/// <summary>Attribute and item access, arithmetic and the global functions, with Jinja's (Python's) rules.</summary>
internal static class Evaluator
{
    /// <summary>Jinja's sandbox caps <c>range()</c> at this many items.</summary>
    public const int MaxRange = 100_000;

    public static readonly IReadOnlyDictionary<string, object?> Globals = new Dictionary<string, object?>(StringComparer.Ordinal)
    {
        ["range"] = new BuiltinFunction("range", Range),
        ["namespace"] = new BuiltinFunction("namespace", NewNamespace),
        ["dict"] = new BuiltinFunction("dict", NewDict),
        ["raise_exception"] = new BuiltinFunction("raise_exception", RaiseException),
        ["strftime_now"] = new BuiltinFunction("strftime_now", args =>
        {
            args.Check("strftime_now", "format");
            return Strftime.Format(DateTime.Now, Py.Str(args.Get(0, "format", "")));
        }),
    };

    /// <summary>The global function names a template may call, checked when it is parsed.</summary>
    public static bool IsGlobalFunction(string name) => Globals.ContainsKey(name);

    public static readonly HashSet<string> RefusedGlobals = new(StringComparer.Ordinal) { "cycler", "joiner", "lipsum", "self", "caller", "varargs", "kwargs" };

    /// <summary>Thrown by <c>raise_exception</c>; it carries the template's own message.</summary>
    public sealed class RaisedException(string message) : Exception(message);

    private static object? RaiseException(CallArgs args) => throw new RaisedException(Py.Str(args.Get(0, "message", "")));

    private static object? Range(CallArgs args)
    {
        args.Check("range", "start", "stop", "step");
        long start = 0, stop, step = 1;
        if (args.Positional.Count == 1) stop = Py.ToLong(args.Positional[0]);
        else if (args.Positional.Count >= 2)
        {
            start = Py.ToLong(args.Positional[0]);
            stop = Py.ToLong(args.Positional[1]);
            if (args.Positional.Count == 3) step = Py.ToLong(args.Positional[2]);
        }
        else throw new TemplateError("range expected at least 1 argument");
        if (step == 0) throw new TemplateError("range() arg 3 must not be zero");
        var result = new List<object?>();
        for (long i = start; step > 0 ? i < stop : i > stop; i += step)
        {
            if (result.Count >= MaxRange) throw new TemplateError($"range too big, the sandbox allows {MaxRange} items");
            result.Add(i);
        }
        return result;
    }

    private static object? NewNamespace(CallArgs args)
    {
        var ns = new Namespace();
        if (args.Positional.Count > 1) throw new TemplateError($"namespace expected at most 1 argument, got {args.Positional.Count}");
        if (args.Positional.Count == 1)
        {
            if (args.Positional[0] is not Dictionary<string, object?> initial) throw new TemplateError("namespace() takes a mapping or keyword arguments");
            foreach (var pair in initial) ns.Attributes[pair.Key] = pair.Value;
        }
        foreach (var pair in args.Keywords) ns.Attributes[pair.Key] = pair.Value;
        return ns;
    }

    private static object? NewDict(CallArgs args)
    {
        var dict = new Dictionary<string, object?>(StringComparer.Ordinal);
        if (args.Positional.Count == 1 && args.Positional[0] is Dictionary<string, object?> initial)
            foreach (var pair in initial) dict[pair.Key] = pair.Value;
        else if (args.Positional.Count > 0) throw new TemplateError("dict() takes a mapping or keyword arguments");
        foreach (var pair in args.Keywords) dict[pair.Key] = pair.Value;
        return dict;
    }

    /// <summary><c>obj.name</c>: Python attributes (methods) first, then the item, as Jinja's <c>getattr</c> does.</summary>
    public static object? GetAttribute(object? target, string name)
    {
        switch (target)
        {
            case Undefined u: throw new TemplateError(u.Hint);
            case Dictionary<string, object?> d:
                if (Methods.Bind(d, name) is { } method) return method;
                return d.TryGetValue(name, out var value) ? value : Undefined.Attribute(target, name);
            case string s:
                return Methods.Bind(s, name) ?? (object?)Undefined.Attribute(target, name);
            case Namespace ns:
                return ns.Attributes.TryGetValue(name, out var attribute) ? attribute : Undefined.Attribute(target, name);
            case LoopInfo loop:
                return loop.TryGetAttribute(name, out var loopValue) ? loopValue : Undefined.Attribute(target, name);
            default:
                return Undefined.Attribute(target, name);
        }
    }

    /// <summary>Dotted attribute paths as filters take them (<c>attribute="function.name"</c>); integer parts index lists.</summary>
    public static object? GetAttributePath(object? target, string path)
    {
        foreach (var part in path.Split('.'))
        {
            target = long.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out long index) ? GetItem(target, index) : GetItem(target, part);
            if (target is Undefined) return target;
        }
        return target;
    }

    /// <summary><c>obj[key]</c>: the item first, then the attribute, else undefined, as Jinja's <c>getitem</c> does.</summary>
    public static object? GetItem(object? target, object? key)
    {
        switch (target)
        {
            case Undefined u: throw new TemplateError(u.Hint);
            case Dictionary<string, object?> d when key is string k:
                if (d.TryGetValue(k, out var value)) return value;
                return Methods.Bind(d, k) ?? (object?)new Undefined($"'dict object' has no attribute '{k}'");
            case List<object?> or object?[] when key is long or bool:
            {
                var items = Py.AsSequence(target);
                long index = Py.ToLong(key);
                if (index < 0) index += items.Count;
                return index >= 0 && index < items.Count ? items[(int)index] : new Undefined($"{Py.TypeName(target)} object has no element {Py.ToLong(key)}");
            }
            case string s when key is long or bool:
            {
                var chars = Py.HasSurrogates(s) ? Py.Characters(s) : null;
                int count = chars?.Count ?? s.Length;
                long index = Py.ToLong(key);
                if (index < 0) index += count;
                if (index < 0 || index >= count) return new Undefined($"str object has no element {Py.ToLong(key)}");
                return chars is null ? s[(int)index].ToString() : chars[(int)index];
            }
            default:
                return key is string name ? GetAttribute(target, name) : new Undefined($"'{Py.TypeName(target)} object' has no element {Py.Repr(key)}");
        }
    }

    /// <summary>Python slicing (<c>x[a:b:c]</c>) of a list, tuple or string.</summary>
    public static object? Slice(object? target, object? start, object? stop, object? step)
    {
        if (target is Undefined u) throw new TemplateError(u.Hint);
        long stepValue = step is null ? 1 : Py.ToLong(step);
        if (stepValue == 0) throw new TemplateError("slice step cannot be zero");
        IReadOnlyList<object?> items = target switch
        {
            string s => Py.Characters(s),
            List<object?> or object?[] => Py.AsSequence(target),
            _ => throw new TemplateError($"'{Py.TypeName(target)}' object is not subscriptable"),
        };
        int n = items.Count;
        long Clamp(object? bound, long whenNull, long low, long high)
        {
            if (bound is null) return whenNull;
            long b = Py.ToLong(bound);
            if (b < 0) b += n;
            return Math.Clamp(b, low, high);
        }
        var result = new List<object?>();
        if (stepValue > 0)
        {
            long from = Clamp(start, 0, 0, n), to = Clamp(stop, n, 0, n);
            for (long i = from; i < to; i += stepValue) result.Add(items[(int)i]);
        }
        else
        {
            long from = Clamp(start, n - 1, -1, n - 1), to = Clamp(stop, -1, -1, n - 1);
            for (long i = from; i > to; i += stepValue) result.Add(items[(int)i]);
        }
        return target switch
        {
            string => string.Concat(result.Cast<string>()),
            object?[] => result.ToArray(),
            _ => result,
        };
    }

    /// <summary>Python's <c>+ - * / // % **</c> on numbers (bool counts as int), plus <c>str + str</c>, <c>list + list</c>, <c>str * int</c>.</summary>
    public static object? Arithmetic(string op, object? a, object? b)
    {
        if (a is Undefined ua) throw new TemplateError(ua.Hint);
        if (b is Undefined ub) throw new TemplateError(ub.Hint);
        if (Py.IsNumber(a) && Py.IsNumber(b))
        {
            if (a is double || b is double || op == "/")
            {
                double x = Py.ToDouble(a), y = Py.ToDouble(b);
                if (y == 0 && op is "/" or "//" or "%") throw new TemplateError("float division by zero");
                return op switch
                {
                    "+" => x + y,
                    "-" => x - y,
                    "*" => x * y,
                    "/" => x / y,
                    "//" => Math.Floor(x / y),
                    "%" => x - y * Math.Floor(x / y),
                    _ => Math.Pow(x, y),
                };
            }
            long l = Py.ToLong(a), r = Py.ToLong(b);
            try
            {
                checked
                {
                    switch (op)
                    {
                        case "+": return l + r;
                        case "-": return l - r;
                        case "*": return l * r;
                        case "//":
                        case "%":
                        {
                            if (r == 0) throw new TemplateError("integer division or modulo by zero");
                            long quotient = l / r, remainder = l % r;
                            if (remainder != 0 && (remainder < 0) != (r < 0)) { quotient--; remainder += r; }
                            return op == "//" ? quotient : remainder;
                        }
                        default:
                        {
                            if (r < 0) return Math.Pow(l, r);
                            long result = 1;
                            for (long i = 0; i < r; i++) result *= l;
                            return result;
                        }
                    }
                }
            }
            catch (OverflowException)
            {
                throw new TemplateError($"integer overflow in {l} {op} {r}");
            }
        }
        switch (op)
        {
            case "+" when a is string sa && b is string sb: return sa + sb;
            case "+" when a is List<object?> la && b is List<object?> lb: return la.Concat(lb).ToList();
            case "+" when a is object?[] ta && b is object?[] tb: return ta.Concat(tb).ToArray();
            case "*" when a is string s && b is long or bool: return Repeat(s, Py.ToLong(b));
            case "*" when b is string s && a is long or bool: return Repeat(s, Py.ToLong(a));
            case "*" when a is List<object?> list && b is long or bool: return Enumerable.Repeat(list, (int)Math.Max(0, Py.ToLong(b))).SelectMany(x => x).ToList();
            case "%" when a is string: throw new TemplateError("printf-style string formatting ('...' % args) is not supported");
        }
        throw new TemplateError($"unsupported operand type(s) for {op}: '{Py.TypeName(a)}' and '{Py.TypeName(b)}'");
    }

    private static string Repeat(string s, long times) => times <= 0 ? "" : string.Concat(Enumerable.Repeat(s, (int)times));
}
