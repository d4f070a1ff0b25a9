using System.Globalization;
using System.Text;

namespace PolicyKit.Templating.Runtime;

/// <summary>
/// Python's <c>json.dumps</c>, which transformers' <c>tojson</c> filter calls with <c>ensure_ascii=False</c>:
/// separators <c>", "</c> and <c>": "</c> (<c>","</c> and <c>": "</c> when indenting), floats as Python prints them,
/// non-ASCII kept as is unless <c>ensure_ascii</c>.
/// </summary>
internal static class PyJson
{
    public sealed record Options(string? Indent, string ItemSeparator, string KeySeparator, bool EnsureAscii, bool SortKeys);

    public static string Dumps(object? value, Options options)
    {
        var sb = new StringBuilder();
        Write(sb, value, options, 0);
        return sb.ToString();
    }

    private static void Write(StringBuilder sb, object? value, Options o, int depth)
    {
        switch (value)
        {
            case null: sb.Append("null"); break;
            case bool b: sb.Append(b ? "true" : "false"); break;
            case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
            case double d:
                sb.Append(double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity" : double.IsNegativeInfinity(d) ? "-Infinity" : Py.FormatFloat(d));
                break;
            case string s: WriteString(sb, s, o.EnsureAscii); break;
            case List<object?> or object?[]:
            {
                var items = Py.AsSequence(value);
                if (items.Count == 0) { sb.Append("[]"); break; }
                sb.Append('[');
                for (int i = 0; i < items.Count; i++)
                {
                    if (i > 0) sb.Append(o.ItemSeparator);
                    NewLine(sb, o, depth + 1);
                    Write(sb, items[i], o, depth + 1);
                }
                NewLine(sb, o, depth);
                sb.Append(']');
                break;
            }
            case Dictionary<string, object?> dict:
            {
                if (dict.Count == 0) { sb.Append("{}"); break; }
                IEnumerable<KeyValuePair<string, object?>> pairs = o.SortKeys ? dict.OrderBy(p => p.Key, StringComparer.Ordinal) : dict;
                sb.Append('{');
                bool first = true;
                foreach (var pair in pairs)
                {
                    if (!first) sb.Append(o.ItemSeparator);
                    first = false;
                    NewLine(sb, o, depth + 1);
                    WriteString(sb, pair.Key, o.EnsureAscii);
                    sb.Append(o.KeySeparator);
                    Write(sb, pair.Value, o, depth + 1);
                }
                NewLine(sb, o, depth);
                sb.Append('}');
                break;
            }
            case Undefined u: throw new TemplateError($"tojson: {u.Hint}");
            default: throw new TemplateError($"Object of type {Py.TypeName(value)} is not JSON serializable");
        }
    }

    private static void NewLine(StringBuilder sb, Options o, int depth)
    {
        if (o.Indent is null) return;
        sb.Append('\n');
        for (int i = 0; i < depth; i++) sb.Append(o.Indent);
    }

    private static void WriteString(StringBuilder sb, string s, bool ensureAscii)
    {
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20 || (ensureAscii && c > 0x7e))
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else
                        sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }
}
