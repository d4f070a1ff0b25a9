namespace PolicyKit.Templating.Runtime;

/// <summary>Jinja's built-in tests (<c>x is defined</c>, <c>x is none</c>, <c>x is string</c>, ...), with Python's meaning of each type.</summary>
internal static class Tests
{
    public delegate bool Test(object? value, CallArgs args);

    private static readonly Dictionary<string, Test> All = new(StringComparer.Ordinal)
    {
        ["defined"] = (v, _) => v is not Undefined,
        ["undefined"] = (v, _) => v is Undefined,
        ["none"] = (v, _) => v is null,
        ["boolean"] = (v, _) => v is bool,
        ["true"] = (v, _) => v is true,
        ["false"] = (v, _) => v is false,
        ["integer"] = (v, _) => v is long,
        ["float"] = (v, _) => v is double,
        ["number"] = (v, _) => v is long or double or bool, // Python: bool is a Number
        ["string"] = (v, _) => v is string,
        ["mapping"] = (v, _) => v is Dictionary<string, object?>,
        // Python: anything iter() accepts, which includes Jinja's Undefined; len() and [] for sequence, likewise.
        ["iterable"] = (v, _) => v is string or List<object?> or object?[] or Dictionary<string, object?> or Undefined,
        ["sequence"] = (v, _) => v is string or List<object?> or object?[] or Dictionary<string, object?> or Undefined,
        ["callable"] = (v, _) => v is ICallable,
        ["odd"] = (v, _) => Py.ToLong(v) % 2 != 0,
        ["even"] = (v, _) => Py.ToLong(v) % 2 == 0,
        ["divisibleby"] = (v, a) => Py.ToLong(v) % Py.ToLong(a.Get(0, "num", 1L)) == 0,
        ["eq"] = (v, a) => Py.Equal(v, Arg(a)),
        ["equalto"] = (v, a) => Py.Equal(v, Arg(a)),
        ["=="] = (v, a) => Py.Equal(v, Arg(a)),
        ["ne"] = (v, a) => !Py.Equal(v, Arg(a)),
        ["!="] = (v, a) => !Py.Equal(v, Arg(a)),
        ["lt"] = (v, a) => Py.Compare(v, Arg(a), "<") < 0,
        ["<"] = (v, a) => Py.Compare(v, Arg(a), "<") < 0,
        ["le"] = (v, a) => Py.Compare(v, Arg(a), "<=") <= 0,
        ["<="] = (v, a) => Py.Compare(v, Arg(a), "<=") <= 0,
        ["gt"] = (v, a) => Py.Compare(v, Arg(a), ">") > 0,
        [">"] = (v, a) => Py.Compare(v, Arg(a), ">") > 0,
        ["ge"] = (v, a) => Py.Compare(v, Arg(a), ">=") >= 0,
        [">="] = (v, a) => Py.Compare(v, Arg(a), ">=") >= 0,
        ["greaterthan"] = (v, a) => Py.Compare(v, Arg(a), ">") > 0,
        ["lessthan"] = (v, a) => Py.Compare(v, Arg(a), "<") < 0,
        ["in"] = (v, a) => Py.Contains(Arg(a), v),
        ["lower"] = (v, _) => v is string s && s == s.ToLowerInvariant(),
        ["upper"] = (v, _) => v is string s && s == s.ToUpperInvariant(),
        ["sameas"] = (v, a) => Arg(a) is var other && (v is null || v is bool || other is null || other is bool ? Equals(v, other) : ReferenceEquals(v, other)),
    };

    /// <summary>Jinja tests outside this subset; named in the parse error as "not supported".</summary>
    public static readonly HashSet<string> Refused = new(StringComparer.Ordinal) { "escaped", "filter", "test" };

    public static bool TryGet(string name, out Test test) => All.TryGetValue(name, out test!);

    private static object? Arg(CallArgs a) =>
        a.Positional.Count > 0 ? a.Positional[0] : a.Keywords.Count > 0 ? a.Keywords[0].Value : throw new TemplateError("this test needs an argument");
}
