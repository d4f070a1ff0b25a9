using System.Globalization;
using System.Text;
using PolicyKit.Generators.Model;

namespace PolicyKit.Generators.Parsing;

/// <summary>Parses <c>Layers = "a..b"</c> and answers the questions the diagnostics ask about ranges.</summary>
internal static class LayerRanges
{
    /// <summary>Bounds beyond this are typos, and keeping them small keeps the overlap search short.</summary>
    public const int MaxLayerIndex = 65535;

    /// <summary>Parses C# range syntax: <c>[^]a..[^]b</c>, either side optional. Returns null and a reason when malformed.</summary>
    public static LayerRange? Parse(string text, out string? error)
    {
        var compact = new StringBuilder(text.Length);
        foreach (char c in text)
        {
            if (!char.IsWhiteSpace(c))
                compact.Append(c);
        }
        string normalized = compact.ToString();
        if (normalized.Length == 0)
        {
            error = "the text is empty (omit Layers to cover every layer)";
            return null;
        }

        int dots = normalized.IndexOf("..", System.StringComparison.Ordinal);
        if (dots < 0)
        {
            error = "it has no '..' between start and end";
            return null;
        }

        string startText = normalized.Substring(0, dots);
        string endText = normalized.Substring(dots + 2);
        if (!TryParseBound(startText, out var start, out error) || !TryParseBound(endText, out var end, out error))
            return null;

        return new LayerRange(normalized, start, end);
    }

    private static bool TryParseBound(string text, out LayerBound? bound, out string? error)
    {
        bound = null;
        error = null;
        if (text.Length == 0)
            return true; // open end

        bool fromEnd = text[0] == '^';
        string digits = fromEnd ? text.Substring(1) : text;
        bool allDigits = digits.Length > 0;
        foreach (char c in digits)
            allDigits &= c >= '0' && c <= '9';
        if (!allDigits || !int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out int value))
        {
            error = $"'{text}' is not a layer index (digits, optionally preceded by ^ to count from the end)";
            return false;
        }
        if (value > MaxLayerIndex)
        {
            error = $"'{text}' is beyond the largest supported layer index {MaxLayerIndex}";
            return false;
        }
        bound = new LayerBound(value, fromEnd);
        return true;
    }

    /// <summary>Layer counts up to which every difference in range behaviour shows: past every bound and every sum of two bounds.</summary>
    private static int SearchLimit(LayerRange a, LayerRange b) => 2 * System.Math.Max(a.LargestBoundValue, b.LargestBoundValue) + 2;

    /// <summary>True when the range selects no layer for any model, e.g. "5..5", "8..2" or "^2..^4".</summary>
    public static bool IsEmptyForEveryLayerCount(LayerRange range)
    {
        int limit = SearchLimit(range, range);
        for (int layerCount = 1; layerCount <= limit; layerCount++)
        {
            var (start, end) = range.Resolve(layerCount);
            if (start < end)
                return false;
        }
        return true;
    }

    /// <summary>
    /// Whether two ranges share a layer for some layer count; <paramref name="where"/> then says where, exactly
    /// for absolute ranges and as an example model size for ranges that count from the end.
    /// </summary>
    public static bool Overlap(LayerRange a, LayerRange b, out string where)
    {
        where = "";
        // Search from large models down, so the example is a realistic model size.
        for (int layerCount = SearchLimit(a, b); layerCount >= 1; layerCount--)
        {
            var (aStart, aEnd) = a.Resolve(layerCount);
            var (bStart, bEnd) = b.Resolve(layerCount);
            int start = System.Math.Max(aStart, bStart);
            int end = System.Math.Min(aEnd, bEnd);
            if (start >= end)
                continue;

            if (a.IsAbsolute && b.IsAbsolute)
            {
                int? sharedEnd = a.End is null && b.End is null ? null : System.Math.Min(a.End?.Value ?? int.MaxValue, b.End?.Value ?? int.MaxValue);
                int sharedStart = System.Math.Max(a.Start?.Value ?? 0, b.Start?.Value ?? 0);
                where = sharedEnd is null ? $"both cover layers {sharedStart}.." : $"both cover layers {sharedStart}..{sharedEnd}";
            }
            else
            {
                where = $"both cover layer {start} of a {layerCount}-layer model";
            }
            return true;
        }
        return false;
    }
}
