using System.Globalization;
using System.Text;

namespace PolicyKit.Cli;

/// <summary>
/// The SVG of <c>bench --prompt-length N,N,... --chart</c>: wall-clock speedup against <c>none</c> (y) over prompt
/// length (x, log scale), one solid line per policy and, dashed beside it in the same colour, its FLOPs reduction:
/// the speedup the policy would reach if time followed FLOPs.
/// </summary>
internal static class BenchScalingChart
{
    private const int Width = 760, Height = 440, Left = 60, Right = 220, Top = 20, Bottom = 50;
    private static readonly string[] Colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];

    /// <summary>Draws every result that has a prompt length; <c>none</c> is the baseline and gets no line.</summary>
    public static string Svg(IReadOnlyList<BenchResult> results)
    {
        var points = results.Where(r => r.PromptLength is not null).ToList();
        if (points.Count == 0) throw new ArgumentException("--chart: the scaling chart needs results of random prompts (--prompt-length).");
        var lengths = points.Select(r => r.PromptLength!.Value).Distinct().Order().ToArray();
        var policies = points.Select(r => r.Policy).Where(p => p != "none").Distinct().ToList();
        double yMax = NiceCeiling(Math.Max(2, points.Max(r => Math.Max(r.Speedup, r.FlopsReduction)) * 1.1));
        double minLog = Math.Log2(lengths[0]), maxLog = Math.Log2(lengths[^1]);
        if (maxLog - minLog < 1e-9) { minLog -= 0.5; maxLog += 0.5; }  // one length: centre it
        double X(int length) => Left + (Math.Log2(length) - minLog) / (maxLog - minLog) * (Width - Left - Right);
        double Y(double speedup) => Top + (1 - speedup / yMax) * (Height - Top - Bottom);

        var sb = new StringBuilder();
        void Line(FormattableString s) => sb.AppendLine(s.ToString(CultureInfo.InvariantCulture));
        Line($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" font-family=\"sans-serif\" font-size=\"11\">");
        Line($"<rect width=\"{Width}\" height=\"{Height}\" fill=\"white\"/>");
        Line($"<line x1=\"{Left}\" y1=\"{Height - Bottom}\" x2=\"{Width - Right}\" y2=\"{Height - Bottom}\" stroke=\"black\"/>");
        Line($"<line x1=\"{Left}\" y1=\"{Top}\" x2=\"{Left}\" y2=\"{Height - Bottom}\" stroke=\"black\"/>");
        foreach (var length in lengths)
            Line($"<text x=\"{X(length):F1}\" y=\"{Height - Bottom + 16}\" text-anchor=\"middle\">{length}</text>");
        double tick = yMax <= 4 ? 0.5 : yMax <= 10 ? 1 : yMax <= 20 ? 2 : 5;
        for (double y = 0; y <= yMax + 1e-9; y += tick)
        {
            Line($"<line x1=\"{Left}\" y1=\"{Y(y):F1}\" x2=\"{Width - Right}\" y2=\"{Y(y):F1}\" stroke=\"#e0e0e0\"/>");
            Line($"<text x=\"{Left - 6}\" y=\"{Y(y) + 4:F1}\" text-anchor=\"end\">{y:0.#}x</text>");
        }
        // The baseline itself: none is 1x at every length.
        Line($"<line x1=\"{Left}\" y1=\"{Y(1):F1}\" x2=\"{Width - Right}\" y2=\"{Y(1):F1}\" stroke=\"#888\" stroke-width=\"1\"/>");
        Line($"<text x=\"{(Left + Width - Right) / 2}\" y=\"{Height - 10}\" text-anchor=\"middle\">prompt length (tokens, log scale)</text>");
        Line($"<text x=\"14\" y=\"{(Top + Height - Bottom) / 2}\" transform=\"rotate(-90 14 {(Top + Height - Bottom) / 2})\" text-anchor=\"middle\">wall-clock speedup against none</text>");

        for (int i = 0; i < policies.Count; i++)
        {
            var colour = Colours[i % Colours.Length];
            var series = points.Where(r => r.Policy == policies[i]).OrderBy(r => r.PromptLength).ToList();
            string name = Escape(policies[i]);
            Line($"<g class=\"series\" data-policy=\"{name}\">");
            Line($"<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{Points(series, r => r.Speedup, X, Y)}\"/>");
            Line($"<polyline class=\"flops-reduction\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" stroke-dasharray=\"5 4\" points=\"{Points(series, r => r.FlopsReduction, X, Y)}\"/>");
            foreach (var r in series)  // hollow: the ideal, visible even where a single length draws no line
                Line($"<circle cx=\"{X(r.PromptLength!.Value):F1}\" cy=\"{Y(r.FlopsReduction):F1}\" r=\"3\" fill=\"white\" stroke=\"{colour}\"/>");
            foreach (var r in series)
                Line($"<circle cx=\"{X(r.PromptLength!.Value):F1}\" cy=\"{Y(r.Speedup):F1}\" r=\"3.5\" fill=\"{colour}\"><title>{name}, prompt {r.PromptLength}: {r.Speedup:F2}x (FLOPs reduction {r.FlopsReduction:F2}x)</title></circle>");
            Line($"</g>");
            Line($"<line x1=\"{Width - Right + 16}\" y1=\"{Top + 14 + 34 * i}\" x2=\"{Width - Right + 40}\" y2=\"{Top + 14 + 34 * i}\" stroke=\"{colour}\" stroke-width=\"2\"/>");
            Line($"<text x=\"{Width - Right + 46}\" y=\"{Top + 18 + 34 * i}\" fill=\"{colour}\">{name}</text>");
            Line($"<line x1=\"{Width - Right + 16}\" y1=\"{Top + 28 + 34 * i}\" x2=\"{Width - Right + 40}\" y2=\"{Top + 28 + 34 * i}\" stroke=\"{colour}\" stroke-width=\"1.5\" stroke-dasharray=\"5 4\"/>");
            Line($"<text x=\"{Width - Right + 46}\" y=\"{Top + 32 + 34 * i}\" fill=\"{colour}\" font-size=\"9\">FLOPs reduction (ideal)</text>");
        }
        Line($"</svg>");
        return sb.ToString();
    }

    private static string Points(IEnumerable<BenchResult> series, Func<BenchResult, double> value, Func<int, double> x, Func<double, double> y) =>
        string.Join(' ', series.Select(r => string.Create(CultureInfo.InvariantCulture, $"{x(r.PromptLength!.Value):F1},{y(value(r)):F1}")));

    /// <summary>The axis top: the next of 2, 4, 5, 10, 15, 20, ... at or above <paramref name="x"/>.</summary>
    private static double NiceCeiling(double x)
    {
        foreach (var step in new[] { 2.0, 4, 5, 10, 15, 20 })
            if (x <= step) return step;
        return Math.Ceiling(x / 10) * 10;
    }

    private static string Escape(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&quot;");
}
