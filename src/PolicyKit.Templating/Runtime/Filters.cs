using System.Globalization;
using System.Text;

namespace PolicyKit.Templating.Runtime;

/// <summary>Jinja's built-in filters that chat templates use, with transformers' own <c>tojson</c>.</summary>
internal static class Filters
{
    public delegate object? Filter(object? value, CallArgs args);

    private static readonly Dictionary<string, Filter> All = new(StringComparer.Ordinal)
    {
        ["abs"] = (v, a) => { a.Check("abs"); return v is double d ? (object)Math.Abs(d) : v is bool or long ? Math.Abs(Py.ToLong(v)) : throw new TemplateError($"bad operand type for abs(): '{Py.TypeName(v)}'"); },
        ["attr"] = (v, a) =>
        {
            // Python's getattr only: a dict's keys are items, not attributes.
            a.Check("attr", "name");
            string name = Py.Str(a.Get(0, "name", ""));
            return v is Dictionary<string, object?> d ? Methods.Bind(d, name) ?? (object?)Undefined.Attribute(v, name) : Evaluator.GetAttribute(v, name);
        },
        ["capitalize"] = (v, a) => { a.Check("capitalize"); return Methods.Capitalize(Py.Str(v)); },
        ["count"] = Length,
        ["length"] = Length,
        ["d"] = Default,
        ["default"] = Default,
        ["dictsort"] = DictSort,
        ["first"] = (v, a) => { a.Check("first"); var items = Py.Iterate(v); return items.Count > 0 ? items[0] : new Undefined("No first item, sequence was empty."); },
        ["last"] = (v, a) => { a.Check("last"); var items = Py.Iterate(v); return items.Count > 0 ? items[^1] : new Undefined("No last item, sequence was empty."); },
        ["float"] = ToFloat,
        ["int"] = ToInt,
        ["items"] = Items,
        ["join"] = Join,
        ["list"] = (v, a) => { a.Check("list"); return Py.Iterate(v).ToList(); },
        ["lower"] = (v, a) => { a.Check("lower"); return Py.Str(v).ToLowerInvariant(); },
        ["upper"] = (v, a) => { a.Check("upper"); return Py.Str(v).ToUpperInvariant(); },
        ["map"] = Map,
        ["max"] = (v, a) => MinMax(v, a, "max", +1),
        ["min"] = (v, a) => MinMax(v, a, "min", -1),
        ["select"] = (v, a) => Select(v, a, "select", byAttribute: false, keep: true),
        ["reject"] = (v, a) => Select(v, a, "reject", byAttribute: false, keep: false),
        ["selectattr"] = (v, a) => Select(v, a, "selectattr", byAttribute: true, keep: true),
        ["rejectattr"] = (v, a) => Select(v, a, "rejectattr", byAttribute: true, keep: false),
        ["replace"] = (v, a) =>
        {
            a.Check("replace", "old", "new", "count");
            return Methods.Replace(Py.Str(v), Py.Str(a.Get(0, "old", "")), Py.Str(a.Get(1, "new", "")), a.Get(2, "count", null) is { } c ? Py.ToLong(c) : -1);
        },
        ["reverse"] = (v, a) =>
        {
            a.Check("reverse");
            if (v is string s) return string.Concat(Py.Characters(s).AsEnumerable().Reverse().Cast<string>());
            var items = Py.Iterate(v).ToList();
            items.Reverse();
            return items;
        },
        ["round"] = Round,
        ["safe"] = (v, a) => { a.Check("safe"); return v is string ? v : Py.Str(v); },
        ["sort"] = Sort,
        ["string"] = (v, a) => { a.Check("string"); return Py.Str(v); },
        ["sum"] = Sum,
        ["title"] = (v, a) => { a.Check("title"); return JinjaTitle(Py.Str(v)); },
        ["tojson"] = ToJson,
        ["trim"] = (v, a) =>
        {
            a.Check("trim", "chars");
            return Methods.Strip(Py.Str(v), a.Get(0, "chars", null) is { } chars ? Py.Str(chars) : null, true, true);
        },
        ["unique"] = Unique,
        ["indent"] = Indent,
    };

    /// <summary>Jinja filters that exist but are outside this subset; named in the parse error as "not supported".</summary>
    public static readonly HashSet<string> Refused = new(StringComparer.Ordinal)
    {
        "batch", "center", "escape", "e", "filesizeformat", "forceescape", "format", "groupby", "pprint", "random", "slice",
        "striptags", "truncate", "urlencode", "urlize", "wordcount", "wordwrap", "xmlattr", "filter",
    };

    public static bool TryGet(string name, out Filter filter) => All.TryGetValue(name, out filter!);

    private static object? Length(object? v, CallArgs a) { a.Check("length"); return Py.Length(v); }

    private static object? Default(object? v, CallArgs a)
    {
        a.Check("default", "default_value", "boolean");
        bool boolean = Py.IsTruthy(a.Get(1, "boolean", false));
        return v is Undefined || (boolean && !Py.IsTruthy(v)) ? a.Get(0, "default_value", "") : v;
    }

    private static object? Items(object? v, CallArgs a)
    {
        a.Check("items");
        return v switch
        {
            Undefined => new List<object?>(),
            Dictionary<string, object?> d => d.Select(p => (object?)new object?[] { p.Key, p.Value }).ToList(),
            _ => throw new TemplateError($"Can only get item pairs from a mapping, not {Py.TypeName(v)}"),
        };
    }

    private static object? DictSort(object? v, CallArgs a)
    {
        a.Check("dictsort", "case_sensitive", "by", "reverse");
        if (v is not Dictionary<string, object?> d) throw new TemplateError($"dictsort expects a mapping, got {Py.TypeName(v)}");
        bool caseSensitive = Py.IsTruthy(a.Get(0, "case_sensitive", false));
        string by = Py.Str(a.Get(1, "by", "key"));
        if (by is not ("key" or "value")) throw new TemplateError("dictsort: You can only sort by either \"key\" or \"value\"");
        bool reverse = Py.IsTruthy(a.Get(2, "reverse", false));
        var pairs = d.Select(p => new object?[] { p.Key, p.Value }).ToList();
        int index = by == "key" ? 0 : 1;
        var sorted = pairs.OrderBy(p => SortKey(p[index], caseSensitive), Comparer).ToList();
        if (reverse) sorted.Reverse();
        return sorted.Select(p => (object?)p).ToList();
    }

    private static readonly Comparer<object?> Comparer = Comparer<object?>.Create((x, y) => Py.Compare(x, y));

    private static object? SortKey(object? value, bool caseSensitive) =>
        !caseSensitive && value is string s ? s.ToLowerInvariant() : value;

    private static object? ToFloat(object? v, CallArgs a)
    {
        a.Check("float", "default");
        object? fallback = a.Get(0, "default", 0.0);
        return v switch
        {
            double d => d,
            long or bool => Py.ToDouble(v),
            string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double parsed) => parsed,
            _ => fallback,
        };
    }

    private static object? ToInt(object? v, CallArgs a)
    {
        a.Check("int", "default", "base");
        object? fallback = a.Get(0, "default", 0L);
        int numberBase = (int)Py.ToLong(a.Get(1, "base", 10L));
        switch (v)
        {
            case long l: return l;
            case bool b: return b ? 1L : 0L;
            case double d: return (long)Math.Truncate(d);
            case string s:
                s = s.Trim().Replace("_", "");
                try
                {
                    if (numberBase == 10 && long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long parsed)) return parsed;
                    if (numberBase != 10) return Convert.ToInt64(s, numberBase);
                }
                catch (Exception e) when (e is FormatException or ArgumentException or OverflowException) { return fallback; }
                return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double f) ? (long)Math.Truncate(f) : fallback;
            default: return fallback;
        }
    }

    private static object? Join(object? v, CallArgs a)
    {
        a.Check("join", "d", "attribute");
        string separator = Py.Str(a.Get(0, "d", ""));
        var items = Py.Iterate(v);
        var attribute = a.Get(1, "attribute", null);
        var sb = new StringBuilder();
        for (int i = 0; i < items.Count; i++)
        {
            if (i > 0) sb.Append(separator);
            sb.Append(Py.Str(attribute is null ? items[i] : Evaluator.GetAttributePath(items[i], Py.Str(attribute))));
        }
        return sb.ToString();
    }

    private static object? Map(object? v, CallArgs a)
    {
        var items = Py.Iterate(v);
        var attribute = a.Get(int.MaxValue, "attribute", null);
        if (attribute is not null)
        {
            var fallback = a.Get(int.MaxValue, "default", null);
            bool hasDefault = a.Has(int.MaxValue, "default");
            return items.Select(item =>
            {
                var value = Evaluator.GetAttributePath(item, Py.Str(attribute));
                return hasDefault && value is Undefined ? fallback : value;
            }).ToList();
        }
        if (a.Positional.Count == 0 || a.Positional[0] is not string filterName)
            throw new TemplateError("map needs a filter name or attribute=...");
        if (!TryGet(filterName, out var filter)) throw new TemplateError($"map: unknown filter '{filterName}'");
        var rest = new CallArgs(a.Positional.Skip(1).ToList(), a.Keywords);
        return items.Select(item => filter(item, rest)).ToList();
    }

    private static object? MinMax(object? v, CallArgs a, string name, int sign)
    {
        a.Check(name, "case_sensitive", "attribute");
        bool caseSensitive = Py.IsTruthy(a.Get(0, "case_sensitive", false));
        var attribute = a.Get(1, "attribute", null);
        var items = Py.Iterate(v);
        if (items.Count == 0) return new Undefined($"No aggregated item, sequence was empty.");
        object? best = items[0];
        foreach (var item in items.Skip(1))
        {
            object? Key(object? x) => SortKey(attribute is null ? x : Evaluator.GetAttributePath(x, Py.Str(attribute)), caseSensitive);
            if (Math.Sign(Py.Compare(Key(item), Key(best))) == sign) best = item;
        }
        return best;
    }

    private static object? Select(object? v, CallArgs a, string name, bool byAttribute, bool keep)
    {
        var items = Py.Iterate(v);
        int next = 0;
        string? attribute = null;
        if (byAttribute)
        {
            if (a.Positional.Count == 0) throw new TemplateError($"{name} needs an attribute name");
            attribute = Py.Str(a.Positional[next++]);
        }
        Tests.Test? test = null;
        CallArgs testArgs = CallArgs.Empty;
        if (a.Positional.Count > next)
        {
            string testName = Py.Str(a.Positional[next++]);
            if (!Tests.TryGet(testName, out var found)) throw new TemplateError($"{name}: unknown test '{testName}'");
            test = found;
            testArgs = new CallArgs(a.Positional.Skip(next).ToList(), a.Keywords);
        }
        var result = new List<object?>();
        foreach (var item in items)
        {
            var probe = attribute is null ? item : Evaluator.GetAttributePath(item, attribute);
            bool passed = test is null ? Py.IsTruthy(probe) : test(probe, testArgs);
            if (passed == keep) result.Add(item);
        }
        return result;
    }

    private static object? Round(object? v, CallArgs a)
    {
        a.Check("round", "precision", "method");
        int precision = (int)Py.ToLong(a.Get(0, "precision", 0L));
        string method = Py.Str(a.Get(1, "method", "common"));
        if (method == "common" && v is long or bool) return Py.ToLong(v); // Python's round(int, n) stays an int
        double value = Py.ToDouble(v);
        double factor = Math.Pow(10, precision);
        return method switch
        {
            "common" => PythonRound(value, precision),
            "ceil" => Math.Ceiling(value * factor) / factor,
            "floor" => Math.Floor(value * factor) / factor,
            _ => throw new TemplateError("round: method must be 'common', 'ceil' or 'floor'"),
        };
    }

    /// <summary>
    /// Python's <c>round(x, n)</c>: rounds the exact binary value half to even (so 2.675 gives 2.67, since the
    /// double is 2.67499...), then reads the decimal result back correctly rounded. Math.Round would give 2.68.
    /// </summary>
    internal static double PythonRound(double value, int digits)
    {
        if (double.IsNaN(value) || double.IsInfinity(value) || value == 0) return value;
        long bits = BitConverter.DoubleToInt64Bits(value);
        int exponent = (int)((bits >> 52) & 0x7FF);
        long mantissa = bits & 0xFFFFFFFFFFFFFL;
        if (exponent == 0) exponent++; else mantissa |= 1L << 52;
        exponent -= 1075; // |value| = mantissa * 2^exponent
        // |value| * 10^digits = numerator / denominator, exactly.
        var numerator = new System.Numerics.BigInteger(mantissa);
        var denominator = System.Numerics.BigInteger.One;
        if (exponent >= 0) numerator <<= exponent; else denominator <<= -exponent;
        if (digits >= 0) numerator *= System.Numerics.BigInteger.Pow(10, digits);
        else denominator *= System.Numerics.BigInteger.Pow(10, -digits);
        var quotient = System.Numerics.BigInteger.DivRem(numerator, denominator, out var remainder);
        int half = (remainder * 2).CompareTo(denominator);
        if (half > 0 || (half == 0 && !quotient.IsEven)) quotient += 1;
        string text = $"{(value < 0 ? "-" : "")}{quotient}e{-digits}";
        return double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);
    }

    private static object? Sort(object? v, CallArgs a)
    {
        a.Check("sort", "reverse", "case_sensitive", "attribute");
        bool reverse = Py.IsTruthy(a.Get(0, "reverse", false));
        bool caseSensitive = Py.IsTruthy(a.Get(1, "case_sensitive", false));
        var attribute = a.Get(2, "attribute", null);
        var items = Py.Iterate(v);
        var sorted = items.OrderBy(x => SortKey(attribute is null ? x : Evaluator.GetAttributePath(x, Py.Str(attribute)), caseSensitive), Comparer).ToList();
        if (reverse) sorted.Reverse();
        return sorted;
    }

    private static object? Sum(object? v, CallArgs a)
    {
        a.Check("sum", "attribute", "start");
        var attribute = a.Get(0, "attribute", null);
        object? total = a.Get(1, "start", 0L);
        foreach (var item in Py.Iterate(v))
            total = Evaluator.Arithmetic("+", total, attribute is null ? item : Evaluator.GetAttributePath(item, Py.Str(attribute)));
        return total;
    }

    private static object? Unique(object? v, CallArgs a)
    {
        a.Check("unique", "case_sensitive", "attribute");
        bool caseSensitive = Py.IsTruthy(a.Get(0, "case_sensitive", false));
        var attribute = a.Get(1, "attribute", null);
        var seen = new List<object?>();
        var result = new List<object?>();
        foreach (var item in Py.Iterate(v))
        {
            var key = SortKey(attribute is null ? item : Evaluator.GetAttributePath(item, Py.Str(attribute)), caseSensitive);
            if (seen.Any(s => Py.Equal(s, key))) continue;
            seen.Add(key);
            result.Add(item);
        }
        return result;
    }

    /// <summary>transformers' <c>tojson</c>: <c>json.dumps(x, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys)</c>.</summary>
    private static object? ToJson(object? v, CallArgs a)
    {
        a.Check("tojson", "ensure_ascii", "indent", "separators", "sort_keys");
        bool ensureAscii = Py.IsTruthy(a.Get(0, "ensure_ascii", false));
        string? indent = a.Get(1, "indent", null) switch
        {
            null => null,
            string s => s,
            var n => new string(' ', (int)Math.Max(0, Py.ToLong(n))),
        };
        string itemSeparator = indent is null ? ", " : ",", keySeparator = ": ";
        if (a.Get(2, "separators", null) is { } separators)
        {
            var pair = Py.AsSequence(separators);
            if (pair.Count != 2) throw new TemplateError("tojson: separators must be an (item_separator, key_separator) pair");
            itemSeparator = Py.Str(pair[0]);
            keySeparator = Py.Str(pair[1]);
        }
        bool sortKeys = Py.IsTruthy(a.Get(3, "sort_keys", false));
        return PyJson.Dumps(v, new PyJson.Options(indent, itemSeparator, keySeparator, ensureAscii, sortKeys));
    }

    private static object? Indent(object? v, CallArgs a)
    {
        a.Check("indent", "width", "first", "blank");
        var width = a.Get(0, "width", 4L);
        string indention = width is string w ? w : new string(' ', (int)Py.ToLong(width));
        bool first = Py.IsTruthy(a.Get(1, "first", false));
        bool blank = Py.IsTruthy(a.Get(2, "blank", false));
        var lines = Py.Str(v).Split('\n');
        var sb = new StringBuilder(lines[0]);
        for (int i = 1; i < lines.Length; i++)
        {
            sb.Append('\n');
            if (blank || lines[i].Length > 0) sb.Append(indention);
            sb.Append(lines[i]);
        }
        return (first ? indention : "") + sb;
    }

    /// <summary>Jinja's <c>title</c> filter: each word that follows a space, dash or opening bracket starts upper case, the rest is lower case.</summary>
    private static string JinjaTitle(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool wordStart = true;
        foreach (char c in s)
        {
            bool separator = char.IsWhiteSpace(c) || c is '-' or '(' or '{' or '[' or '<';
            if (separator) sb.Append(c);
            else sb.Append(wordStart ? char.ToUpperInvariant(c) : char.ToLowerInvariant(c));
            wordStart = separator;
        }
        return sb.ToString();
    }
}
