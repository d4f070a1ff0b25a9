using System.Collections;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PolicyKit.Templating.Runtime;

/// <summary>
/// Python semantics for the values a template sees. Runtime values are: <c>null</c> (None), <see cref="Undefined"/>,
/// <see cref="string"/>, <see cref="bool"/>, <see cref="long"/>, <see cref="double"/>, <see cref="List{T}"/> of object
/// (list), <c>object?[]</c> (tuple), <see cref="Dictionary{TKey,TValue}"/> with string keys (dict, insertion-ordered),
/// <see cref="Namespace"/>, <see cref="LoopInfo"/> and <see cref="ICallable"/>.
/// </summary>
internal static class Py
{
    public static string TypeName(object? value) => value switch
    {
        null => "NoneType",
        Undefined => "Undefined",
        string => "str",
        bool => "bool",
        long => "int",
        double => "float",
        List<object?> => "list",
        object?[] => "tuple",
        Dictionary<string, object?> => "dict",
        Namespace => "Namespace",
        LoopInfo => "LoopContext",
        ICallable => "function",
        _ => value.GetType().Name,
    };

    public static bool IsTruthy(object? value) => value switch
    {
        null or Undefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> l => l.Count > 0,
        object?[] t => t.Length > 0,
        Dictionary<string, object?> d => d.Count > 0,
        _ => true,
    };

    public static bool IsNumber(object? value) => value is long or double or bool;

    public static bool IsSequenceValue(object? value) => value is List<object?> or object?[];

    public static IReadOnlyList<object?> AsSequence(object? value) => value switch
    {
        List<object?> l => l,
        object?[] t => t,
        _ => throw new TemplateError($"expected a list, got {TypeName(value)}"),
    };

    /// <summary>Python's <c>iter()</c>: list and tuple items, dict keys, string characters; undefined is empty.</summary>
    public static IReadOnlyList<object?> Iterate(object? value) => value switch
    {
        List<object?> l => l,
        object?[] t => t,
        Dictionary<string, object?> d => d.Keys.Select(k => (object?)k).ToList(),
        string s => Characters(s),
        Undefined => [],
        _ => throw new TemplateError($"'{TypeName(value)}' object is not iterable"),
    };

    /// <summary>A string's characters as Python sees them (code points, so a surrogate pair is one character).</summary>
    public static List<object?> Characters(string s)
    {
        var result = new List<object?>(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                result.Add(s.Substring(i, 2));
                i++;
            }
            else result.Add(s[i].ToString());
        }
        return result;
    }

    public static bool HasSurrogates(string s)
    {
        foreach (char c in s)
            if (char.IsSurrogate(c)) return true;
        return false;
    }

    public static long Length(object? value) => value switch
    {
        string s => HasSurrogates(s) ? Characters(s).Count : s.Length,
        List<object?> l => l.Count,
        object?[] t => t.Length,
        Dictionary<string, object?> d => d.Count,
        Namespace n => n.Attributes.Count,
        Undefined => 0,
        _ => throw new TemplateError($"object of type '{TypeName(value)}' has no len()"),
    };

    // ---------------------------------------------------------------- str() and repr()

    public static string Str(object? value) => value switch
    {
        string s => s,
        Undefined => "",
        _ => Repr(value),
    };

    public static string Repr(object? value)
    {
        var sb = new StringBuilder();
        AppendRepr(sb, value);
        return sb.ToString();
    }

    private static void AppendRepr(StringBuilder sb, object? value)
    {
        switch (value)
        {
            case null: sb.Append("None"); break;
            case Undefined: break;
            case bool b: sb.Append(b ? "True" : "False"); break;
            case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
            case double d: sb.Append(FormatFloat(d)); break;
            case string s: AppendStringRepr(sb, s); break;
            case List<object?> list:
                sb.Append('[');
                for (int i = 0; i < list.Count; i++)
                {
                    if (i > 0) sb.Append(", ");
                    AppendRepr(sb, list[i]);
                }
                sb.Append(']');
                break;
            case object?[] tuple:
                sb.Append('(');
                for (int i = 0; i < tuple.Length; i++)
                {
                    if (i > 0) sb.Append(", ");
                    AppendRepr(sb, tuple[i]);
                }
                sb.Append(tuple.Length == 1 ? ",)" : ")");
                break;
            case Dictionary<string, object?> dict:
                sb.Append('{');
                bool first = true;
                foreach (var pair in dict)
                {
                    if (!first) sb.Append(", ");
                    first = false;
                    AppendStringRepr(sb, pair.Key);
                    sb.Append(": ");
                    AppendRepr(sb, pair.Value);
                }
                sb.Append('}');
                break;
            case Namespace ns:
                sb.Append("<Namespace ");
                AppendRepr(sb, ns.Attributes);
                sb.Append('>');
                break;
            case ICallable callable: sb.Append("<function ").Append(callable.Name).Append('>'); break;
            default: sb.Append(value); break;
        }
    }

    private static void AppendStringRepr(StringBuilder sb, string s)
    {
        char quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        sb.Append(quote);
        foreach (char c in s)
        {
            switch (c)
            {
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c == quote) sb.Append('\\').Append(c);
                    else if (c < 0x20 || c == 0x7f) sb.Append("\\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append(quote);
    }

    /// <summary>Python's <c>repr(float)</c>: shortest round-trip digits, fixed notation for exponents -4..15, else <c>1e+16</c> style.</summary>
    public static string FormatFloat(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsPositiveInfinity(d)) return "inf";
        if (double.IsNegativeInfinity(d)) return "-inf";
        if (d == 0) return double.IsNegative(d) ? "-0.0" : "0.0";

        // "E16" is not shortest; "R" is, so take its digits and exponent and lay them out as Python does.
        string r = d.ToString("R", CultureInfo.InvariantCulture);
        bool negative = r.StartsWith('-');
        if (negative) r = r[1..];
        int exponent = 0;
        int e = r.IndexOfAny(['E', 'e']);
        if (e >= 0)
        {
            exponent = int.Parse(r.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            r = r[..e];
        }
        int dot = r.IndexOf('.');
        string digits = dot >= 0 ? r.Remove(dot, 1) : r;
        int pointPosition = (dot >= 0 ? dot : r.Length) + exponent; // digits[0..pointPosition) is the integer part
        int leadingZeros = 0;
        while (leadingZeros < digits.Length - 1 && digits[leadingZeros] == '0') leadingZeros++;
        digits = digits[leadingZeros..];
        pointPosition -= leadingZeros;
        digits = digits.TrimEnd('0');
        if (digits.Length == 0) digits = "0";
        int sciExponent = pointPosition - 1;

        var sb = new StringBuilder();
        if (negative) sb.Append('-');
        if (sciExponent >= -5 + 1 && sciExponent < 16)
        {
            if (pointPosition <= 0)
                sb.Append("0.").Append('0', -pointPosition).Append(digits);
            else if (pointPosition >= digits.Length)
                sb.Append(digits).Append('0', pointPosition - digits.Length).Append(".0");
            else
                sb.Append(digits, 0, pointPosition).Append('.').Append(digits, pointPosition, digits.Length - pointPosition);
        }
        else
        {
            sb.Append(digits[0]);
            if (digits.Length > 1) sb.Append('.').Append(digits, 1, digits.Length - 1);
            sb.Append('e').Append(sciExponent < 0 ? '-' : '+').Append(Math.Abs(sciExponent).ToString("00", CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }

    // ---------------------------------------------------------------- equality and ordering

    public static bool Equal(object? a, object? b)
    {
        if (a is null || b is null) return a is null && b is null;
        if (a is Undefined || b is Undefined) return a is Undefined && b is Undefined;
        if (IsNumber(a) && IsNumber(b))
        {
            if (a is double || b is double) return ToDouble(a) == ToDouble(b);
            return ToLong(a) == ToLong(b);
        }
        switch (a)
        {
            case string sa: return b is string sb && sa == sb;
            case List<object?> la: return b is List<object?> lb && SequenceEqual(la, lb);
            case object?[] ta: return b is object?[] tb && SequenceEqual(ta, tb);
            case Dictionary<string, object?> da:
                if (b is not Dictionary<string, object?> db || da.Count != db.Count) return false;
                foreach (var pair in da)
                    if (!db.TryGetValue(pair.Key, out var other) || !Equal(pair.Value, other)) return false;
                return true;
            default: return ReferenceEquals(a, b);
        }
    }

    private static bool SequenceEqual(IReadOnlyList<object?> a, IReadOnlyList<object?> b)
    {
        if (a.Count != b.Count) return false;
        for (int i = 0; i < a.Count; i++)
            if (!Equal(a[i], b[i])) return false;
        return true;
    }

    /// <summary>Python's ordering for <c>&lt; &gt; &lt;= &gt;=</c>, <c>sort</c>, <c>min</c> and <c>max</c>: numbers, strings (by code point), sequences.</summary>
    public static int Compare(object? a, object? b, string op = "<")
    {
        if (IsNumber(a) && IsNumber(b))
        {
            if (a is double || b is double) return ToDouble(a).CompareTo(ToDouble(b));
            return ToLong(a).CompareTo(ToLong(b));
        }
        if (a is string sa && b is string sb) return string.CompareOrdinal(sa, sb);
        if (IsSequenceValue(a) && IsSequenceValue(b) && a!.GetType() == b!.GetType())
        {
            var la = AsSequence(a);
            var lb = AsSequence(b);
            for (int i = 0; i < Math.Min(la.Count, lb.Count); i++)
            {
                if (Equal(la[i], lb[i])) continue;
                return Compare(la[i], lb[i], op);
            }
            return la.Count.CompareTo(lb.Count);
        }
        if (a is Undefined || b is Undefined) throw new TemplateError(((a as Undefined) ?? (Undefined)b!).Hint);
        throw new TemplateError($"'{op}' not supported between instances of '{TypeName(a)}' and '{TypeName(b)}'");
    }

    public static long ToLong(object? value) => value switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        double d => (long)d,
        _ => throw new TemplateError($"expected an integer, got {TypeName(value)}"),
    };

    public static double ToDouble(object? value) => value switch
    {
        double d => d,
        long l => l,
        bool b => b ? 1 : 0,
        _ => throw new TemplateError($"expected a number, got {TypeName(value)}"),
    };

    /// <summary>Python's <c>in</c>: substring, list membership, dict key; nothing is in undefined.</summary>
    public static bool Contains(object? container, object? item) => container switch
    {
        string s => item is string sub ? s.Contains(sub, StringComparison.Ordinal)
            : throw new TemplateError($"'in <string>' requires string as left operand, not {TypeName(item)}"),
        List<object?> or object?[] => AsSequence(container).Any(x => Equal(x, item)),
        Dictionary<string, object?> d => item is string key && d.ContainsKey(key),
        Namespace n => item is string key && n.Attributes.ContainsKey(key),
        Undefined => false,
        _ => throw new TemplateError($"argument of type '{TypeName(container)}' is not iterable"),
    };

    // ---------------------------------------------------------------- values from the host

    /// <summary>Context values nest at most this deep; deeper is almost surely a cycle.</summary>
    public const int MaxDepth = 128;

    /// <summary>
    /// Converts a context value from .NET to the runtime model: integers to long, floating point to double, any
    /// dictionary to an insertion-ordered string-keyed dict, any other enumerable to a list, JSON elements and nodes to
    /// their values. <paramref name="name"/> is the variable's name, for errors.
    /// </summary>
    public static object? FromHost(object? value, string name)
    {
        try
        {
            return FromHost(value, 0);
        }
        catch (BadHostValue e)
        {
            // The path is only built when something is wrong, so that a render allocates no names.
            string path = name + string.Concat(e.Path.Select(step => step is int i ? $"[{i}]" : $"[\"{step}\"]"));
            throw new ChatTemplateException(e.Problem is null
                ? $"context value {path} has type {e.Type!.FullName}; use string, bool, a number, null, a list or a dictionary"
                : $"context value {path} {e.Problem}");
        }
    }

    private sealed class BadHostValue(Type? type, string? problem) : Exception
    {
        public Type? Type { get; } = type;
        public string? Problem { get; } = problem;
        public Stack<object> Path { get; } = new();
    }

    private static object? FromHost(object? value, int depth)
    {
        if (depth > MaxDepth) throw new BadHostValue(null, $"is nested deeper than {MaxDepth} levels (does it contain itself?)");
        switch (value)
        {
            case null: return null;
            case string or bool or long or double or Undefined or Namespace or ICallable: return value;
            case int i: return (long)i;
            case short or byte or sbyte or ushort or uint: return Convert.ToInt64(value, CultureInfo.InvariantCulture);
            case ulong u: return u <= long.MaxValue ? (long)u : (double)u;
            case float f: return (double)f;
            case decimal m: return (double)m;
            case char c: return c.ToString();
            case Enum e: return e.ToString();
            case JsonElement element: return FromJson(element);
            case JsonNode node: return FromJson(JsonDocument.Parse(node.ToJsonString()).RootElement);
            case IDictionary dictionary:
            {
                var result = new Dictionary<string, object?>(dictionary.Count, StringComparer.Ordinal);
                foreach (DictionaryEntry entry in dictionary)
                {
                    string key = Convert.ToString(entry.Key, CultureInfo.InvariantCulture) ?? "";
                    result[key] = Child(entry.Value, depth, key);
                }
                return result;
            }
            case IEnumerable<KeyValuePair<string, object?>> pairs:
            {
                var result = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (var pair in pairs) result[pair.Key] = Child(pair.Value, depth, pair.Key);
                return result;
            }
            case IEnumerable entries when IsStringKeyedMap(value.GetType()):
            {
                // IDictionary<string, T> or IReadOnlyDictionary<string, T> for a T other than object
                // (IDictionary<string, JsonElement>, say): KeyValuePair<string, T> is not covariant, so read it by reflection.
                var result = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (var entry in entries)
                {
                    var type = entry!.GetType();
                    string key = (string)type.GetProperty("Key")!.GetValue(entry)!;
                    result[key] = Child(type.GetProperty("Value")!.GetValue(entry), depth, key);
                }
                return result;
            }
            case IEnumerable items:
            {
                var result = new List<object?>();
                foreach (var item in items) result.Add(Child(item, depth, result.Count));
                return result;
            }
            default:
                throw new BadHostValue(value.GetType(), null);
        }
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<Type, bool> StringKeyedMaps = new();

    private static bool IsStringKeyedMap(Type type) => StringKeyedMaps.GetOrAdd(type, static t => t.GetInterfaces().Any(i =>
        i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>)
        && i.GetGenericArguments()[0] is { IsGenericType: true } pair
        && pair.GetGenericTypeDefinition() == typeof(KeyValuePair<,>) && pair.GetGenericArguments()[0] == typeof(string)));

    private static object? Child(object? value, int depth, object step)
    {
        try
        {
            return FromHost(value, depth + 1);
        }
        catch (BadHostValue e)
        {
            e.Path.Push(step);
            throw;
        }
    }

    private static object? FromJson(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String: return element.GetString();
            case JsonValueKind.True: return true;
            case JsonValueKind.False: return false;
            case JsonValueKind.Null or JsonValueKind.Undefined: return null;
            case JsonValueKind.Number:
                return element.TryGetInt64(out long l) && !element.GetRawText().Contains('.') ? (object)l : element.GetDouble();
            case JsonValueKind.Array:
            {
                var result = new List<object?>(element.GetArrayLength());
                foreach (var item in element.EnumerateArray()) result.Add(FromJson(item));
                return result;
            }
            default:
            {
                var result = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (var property in element.EnumerateObject())
                    result[property.Name] = FromJson(property.Value);
                return result;
            }
        }
    }
}
