namespace PolicyKit.Templating.Runtime;

/// <summary>
/// Jinja's default <c>Undefined</c>: prints as "", is false, iterates as empty, has length 0, but raises when used in
/// arithmetic, called, or asked for an attribute or item (transformers uses this default, not a lenient one).
/// </summary>
internal sealed class Undefined
{
    public static readonly Undefined Plain = new("a value is undefined");

    public Undefined(string hint) => Hint = hint;

    /// <summary>What the error says when this value is misused, e.g. "'tools' is undefined".</summary>
    public string Hint { get; }

    public static Undefined Variable(string name) => new($"'{name}' is undefined");

    public static Undefined Attribute(object? owner, string name) => new($"'{Py.TypeName(owner)} object' has no attribute '{name}'");
}

/// <summary>The object <c>namespace(...)</c> returns: the one mutable value a template may assign attributes on.</summary>
internal sealed class Namespace
{
    public Dictionary<string, object?> Attributes { get; } = new(StringComparer.Ordinal);
}

/// <summary>A runtime error without a position yet; the node that catches it adds the line and column.</summary>
internal sealed class TemplateError(string message) : Exception(message);

/// <summary>Positional and keyword arguments of a call, filter or test.</summary>
internal sealed class CallArgs
{
    public static readonly CallArgs Empty = new([], []);

    public CallArgs(List<object?> positional, List<KeyValuePair<string, object?>> keywords)
    {
        Positional = positional;
        Keywords = keywords;
    }

    public List<object?> Positional { get; }
    public List<KeyValuePair<string, object?>> Keywords { get; }

    /// <summary>The argument at <paramref name="index"/> or named <paramref name="name"/>, else <paramref name="fallback"/>.</summary>
    public object? Get(int index, string name, object? fallback)
    {
        if (index < Positional.Count) return Positional[index];
        foreach (var pair in Keywords)
            if (pair.Key == name) return pair.Value;
        return fallback;
    }

    public bool Has(int index, string name)
    {
        if (index < Positional.Count) return true;
        foreach (var pair in Keywords)
            if (pair.Key == name) return true;
        return false;
    }

    /// <summary>Fails when more positional arguments, or keywords other than <paramref name="names"/>, were passed to <paramref name="what"/>.</summary>
    public void Check(string what, params string[] names)
    {
        if (Positional.Count > names.Length)
            throw new TemplateError($"{what} takes at most {names.Length} argument(s), got {Positional.Count}");
        foreach (var pair in Keywords)
            if (Array.IndexOf(names, pair.Key) < 0)
                throw new TemplateError($"{what} got an unexpected keyword argument '{pair.Key}'");
    }
}

/// <summary>Anything a template can call: builtins, bound methods, macros, <c>loop.cycle</c>.</summary>
internal interface ICallable
{
    string Name { get; }
    object? Call(CallArgs args);
}

internal sealed class BuiltinFunction(string name, Func<CallArgs, object?> body) : ICallable
{
    public string Name { get; } = name;
    public object? Call(CallArgs args) => body(args);
}

/// <summary>The <c>loop</c> variable of a for loop.</summary>
internal sealed class LoopInfo
{
    private readonly IReadOnlyList<object?> _items;

    public LoopInfo(IReadOnlyList<object?> items) => _items = items;

    public int Index0 { get; set; }

    public bool TryGetAttribute(string name, out object? value)
    {
        int n = _items.Count;
        value = name switch
        {
            "index" => (long)(Index0 + 1),
            "index0" => (long)Index0,
            "revindex" => (long)(n - Index0),
            "revindex0" => (long)(n - Index0 - 1),
            "first" => Index0 == 0,
            "last" => Index0 == n - 1,
            "length" => (long)n,
            "depth" => 1L,
            "depth0" => 0L,
            "previtem" => Index0 > 0 ? _items[Index0 - 1] : Undefined.Attribute(this, "previtem"),
            "nextitem" => Index0 < n - 1 ? _items[Index0 + 1] : Undefined.Attribute(this, "nextitem"),
            "cycle" => new BuiltinFunction("loop.cycle", Cycle),
            _ => null,
        };
        return value is not null || name is "previtem" or "nextitem";
    }

    private object? Cycle(CallArgs args)
    {
        if (args.Positional.Count == 0) throw new TemplateError("loop.cycle() needs at least one value");
        return args.Positional[Index0 % args.Positional.Count];
    }
}
