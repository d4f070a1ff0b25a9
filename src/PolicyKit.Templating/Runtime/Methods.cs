using System.Text;

namespace PolicyKit.Templating.Runtime;

/// <summary>The Python <c>str</c> and <c>dict</c> methods templates call (<c>.strip()</c>, <c>.split()</c>, <c>.get()</c>, <c>.items()</c>, ...).</summary>
internal static class Methods
{
    public static readonly HashSet<string> StringMethods = new(StringComparer.Ordinal)
    {
        "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith", "upper", "lower", "title",
        "capitalize", "replace", "find", "rfind", "count", "join", "isdigit", "isalpha", "isalnum", "isspace", "isupper", "islower",
    };

    public static readonly HashSet<string> DictMethods = new(StringComparer.Ordinal) { "get", "items", "keys", "values" };

    /// <summary>Every method name a template may call, checked when the template is parsed.</summary>
    public static bool IsKnown(string name) => StringMethods.Contains(name) || DictMethods.Contains(name) || name == "cycle";

    /// <summary>Calls <c>target.name(args)</c> directly when it is a str or dict method, without binding a callable first.</summary>
    public static bool TryInvoke(object? target, string name, CallArgs args, out object? result)
    {
        if (target is string s && StringMethods.Contains(name)) { result = CallString(s, name, args); return true; }
        if (target is Dictionary<string, object?> d && DictMethods.Contains(name)) { result = CallDict(d, name, args); return true; }
        result = null;
        return false;
    }

    public static ICallable? Bind(object? target, string name)
    {
        if (target is string s && StringMethods.Contains(name)) return new BuiltinFunction($"str.{name}", args => CallString(s, name, args));
        if (target is Dictionary<string, object?> d && DictMethods.Contains(name)) return new BuiltinFunction($"dict.{name}", args => CallDict(d, name, args));
        return null;
    }

    private static object? CallDict(Dictionary<string, object?> d, string name, CallArgs args)
    {
        switch (name)
        {
            case "get":
                args.Check("dict.get()", "key", "default");
                return args.Get(0, "key", null) is string key && d.TryGetValue(key, out var value) ? value : args.Get(1, "default", null);
            case "items":
                args.Check("dict.items()");
                return d.Select(p => (object?)new object?[] { p.Key, p.Value }).ToList();
            case "keys":
                args.Check("dict.keys()");
                return d.Keys.Select(k => (object?)k).ToList();
            default:
                args.Check("dict.values()");
                return d.Values.ToList();
        }
    }

    private static object? CallString(string s, string name, CallArgs args)
    {
        string what = $"str.{name}()";
        switch (name)
        {
            case "strip": args.Check(what, "chars"); return Strip(s, OptionalChars(args, what), true, true);
            case "lstrip": args.Check(what, "chars"); return Strip(s, OptionalChars(args, what), true, false);
            case "rstrip": args.Check(what, "chars"); return Strip(s, OptionalChars(args, what), false, true);
            case "split":
            case "rsplit":
            {
                args.Check(what, "sep", "maxsplit");
                var sep = args.Get(0, "sep", null);
                if (sep is not null and not string) throw new TemplateError($"{what}: sep must be a string or None");
                long max = Py.ToLong(args.Get(1, "maxsplit", -1L));
                var parts = name == "split" ? Split(s, (string?)sep, max) : RSplit(s, (string?)sep, max);
                return parts.Select(p => (object?)p).ToList();
            }
            case "splitlines":
            {
                args.Check(what);
                var lines = new List<object?>();
                int start = 0;
                for (int i = 0; i < s.Length; i++)
                {
                    if (s[i] != '\n' && s[i] != '\r') continue;
                    lines.Add(s[start..i]);
                    if (s[i] == '\r' && i + 1 < s.Length && s[i + 1] == '\n') i++;
                    start = i + 1;
                }
                if (start < s.Length) lines.Add(s[start..]);
                return lines;
            }
            case "startswith":
            case "endswith":
            {
                args.Check(what, "prefix");
                var probe = args.Get(0, "prefix", Undefined.Plain);
                IEnumerable<object?> candidates = probe is object?[] or List<object?> ? Py.AsSequence(probe) : [probe];
                foreach (var candidate in candidates)
                {
                    if (candidate is not string c) throw new TemplateError($"{what} argument must be str or a tuple of str, not {Py.TypeName(candidate)}");
                    if (name == "startswith" ? s.StartsWith(c, StringComparison.Ordinal) : s.EndsWith(c, StringComparison.Ordinal)) return true;
                }
                return false;
            }
            case "upper": args.Check(what); return s.ToUpperInvariant();
            case "lower": args.Check(what); return s.ToLowerInvariant();
            case "title": args.Check(what); return Title(s);
            case "capitalize": args.Check(what); return Capitalize(s);
            case "replace":
            {
                args.Check(what, "old", "new", "count");
                if (args.Get(0, "old", null) is not string oldValue || args.Get(1, "new", null) is not string newValue)
                    throw new TemplateError($"{what} needs two strings");
                return Replace(s, oldValue, newValue, Py.ToLong(args.Get(2, "count", -1L)));
            }
            case "find":
            case "rfind":
            case "count":
            {
                args.Check(what, "sub");
                if (args.Get(0, "sub", null) is not string sub) throw new TemplateError($"{what} needs a string");
                if (name == "find") return (long)s.IndexOf(sub, StringComparison.Ordinal);
                if (name == "rfind") return (long)s.LastIndexOf(sub, StringComparison.Ordinal);
                return (long)CountOccurrences(s, sub);
            }
            case "join":
            {
                args.Check(what, "iterable");
                var parts = Py.Iterate(args.Get(0, "iterable", Undefined.Plain));
                var sb = new StringBuilder();
                for (int i = 0; i < parts.Count; i++)
                {
                    if (parts[i] is not string part) throw new TemplateError($"{what}: sequence item {i}: expected str instance, {Py.TypeName(parts[i])} found");
                    if (i > 0) sb.Append(s);
                    sb.Append(part);
                }
                return sb.ToString();
            }
            case "isdigit": return s.Length > 0 && s.All(char.IsDigit);
            case "isalpha": return s.Length > 0 && s.All(char.IsLetter);
            case "isalnum": return s.Length > 0 && s.All(char.IsLetterOrDigit);
            case "isspace": return s.Length > 0 && s.All(char.IsWhiteSpace);
            case "isupper": return s.Any(char.IsLetter) && !s.Any(char.IsLower);
            default: return s.Any(char.IsLetter) && !s.Any(char.IsUpper); // islower
        }
    }

    private static string? OptionalChars(CallArgs args, string what)
    {
        var chars = args.Get(0, "chars", null);
        return chars switch
        {
            null => null,
            string c => c,
            _ => throw new TemplateError($"{what} arg must be None or str"),
        };
    }

    /// <summary>Python's strip family: without <paramref name="chars"/>, whitespace; with it, any of those characters.</summary>
    public static string Strip(string s, string? chars, bool left, bool right)
    {
        int start = 0, end = s.Length;
        if (left) while (start < end && (chars is null ? char.IsWhiteSpace(s[start]) : chars.Contains(s[start]))) start++;
        if (right) while (end > start && (chars is null ? char.IsWhiteSpace(s[end - 1]) : chars.Contains(s[end - 1]))) end--;
        return s[start..end];
    }

    public static List<string> Split(string s, string? sep, long maxSplit)
    {
        var result = new List<string>();
        if (sep is null)
        {
            int i = 0;
            while (true)
            {
                while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
                if (i >= s.Length) break;
                if (maxSplit >= 0 && result.Count >= maxSplit)
                {
                    result.Add(s[i..].TrimEnd());
                    break;
                }
                int start = i;
                while (i < s.Length && !char.IsWhiteSpace(s[i])) i++;
                result.Add(s[start..i]);
            }
            return result;
        }
        if (sep.Length == 0) throw new TemplateError("empty separator");
        int from = 0;
        while (maxSplit < 0 || result.Count < maxSplit)
        {
            int at = s.IndexOf(sep, from, StringComparison.Ordinal);
            if (at < 0) break;
            result.Add(s[from..at]);
            from = at + sep.Length;
        }
        result.Add(s[from..]);
        return result;
    }

    private static List<string> RSplit(string s, string? sep, long maxSplit)
    {
        if (maxSplit < 0) return Split(s, sep, -1);
        if (sep is null)
        {
            var words = Split(s, null, -1);
            if (words.Count <= maxSplit) return words;
            // Keep the head as one piece, with its inner whitespace, as Python does.
            int keep = words.Count - (int)maxSplit;
            int index = 0, position = 0;
            string trimmed = s.Trim();
            for (; index < keep; index++)
            {
                position = trimmed.IndexOf(words[index], position, StringComparison.Ordinal) + words[index].Length;
            }
            var result = new List<string> { trimmed[..position] };
            result.AddRange(words.Skip(keep));
            return result;
        }
        if (sep.Length == 0) throw new TemplateError("empty separator");
        var parts = new List<string>();
        int end = s.Length;
        while (parts.Count < maxSplit)
        {
            int at = end - sep.Length < 0 ? -1 : s.LastIndexOf(sep, end - 1, StringComparison.Ordinal);
            if (at < 0 || at + sep.Length > end) break;
            parts.Add(s[(at + sep.Length)..end]);
            end = at;
        }
        parts.Add(s[..end]);
        parts.Reverse();
        return parts;
    }

    public static string Replace(string s, string oldValue, string newValue, long count)
    {
        if (count < 0) count = long.MaxValue;
        var sb = new StringBuilder();
        if (oldValue.Length == 0)
        {
            // Python inserts the replacement before every character and at the end.
            long done = 0;
            for (int i = 0; i <= s.Length; i++)
            {
                if (done < count) { sb.Append(newValue); done++; }
                if (i < s.Length) sb.Append(s[i]);
            }
            return sb.ToString();
        }
        int from = 0;
        long replaced = 0;
        while (replaced < count)
        {
            int at = s.IndexOf(oldValue, from, StringComparison.Ordinal);
            if (at < 0) break;
            sb.Append(s, from, at - from).Append(newValue);
            from = at + oldValue.Length;
            replaced++;
        }
        sb.Append(s, from, s.Length - from);
        return sb.ToString();
    }

    private static int CountOccurrences(string s, string sub)
    {
        if (sub.Length == 0) return s.Length + 1;
        int n = 0;
        for (int at = s.IndexOf(sub, StringComparison.Ordinal); at >= 0; at = s.IndexOf(sub, at + sub.Length, StringComparison.Ordinal)) n++;
        return n;
    }

    /// <summary>Python's <c>str.title()</c>: a letter after a non-letter is upper case, any other letter lower case.</summary>
    public static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool previousCased = false;
        foreach (char c in s)
        {
            if (char.IsLetter(c))
            {
                sb.Append(previousCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
                previousCased = true;
            }
            else
            {
                sb.Append(c);
                previousCased = false;
            }
        }
        return sb.ToString();
    }

    public static string Capitalize(string s) =>
        s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();
}
