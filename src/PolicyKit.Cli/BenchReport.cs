using System.Globalization;
using System.Text;

namespace PolicyKit.Cli;

/// <summary>
/// One policy on one task (the JSON fields of <c>policykit bench</c>). <paramref name="PromptLength"/> is set for
/// random prompts (<c>--prompt-length</c>); <paramref name="Seconds"/> is the wall-clock time of its timed generations; <paramref name="PeakCacheMiB"/> is the most memory the policy's cache
/// tensors held in one batch (0 without a cache).
/// </summary>
internal sealed record BenchResult(
    string Policy, string Task, int Samples, double? Accuracy, double Agreement, double TokensPerSecond,
    double Speedup, double FlopsReduction, double RecomputeFraction, double Steps, int? PromptLength = null, double PeakCacheMiB = 0, double Seconds = 0);

/// <summary>The bench results as a console table, markdown and an SVG chart of accuracy against speedup.</summary>
internal static class BenchReport
{
    public static string Table(IReadOnlyList<BenchResult> results)
    {
        var sb = new StringBuilder();
        // Columns as wide as the longest name (a policy with overrides, dllm-cache:AdaptiveResponse.Ratio=1, is long).
        int policyWidth = results.Select(r => r.Policy.Length).Append(22).Max(), taskWidth = results.Select(r => r.Task.Length).Append(11).Max();
        sb.AppendLine($"{"policy".PadRight(policyWidth)} {"task".PadRight(taskWidth)} {"acc",6} {"agree",6} {"tok/s",8} {"speedup",8} {"FLOPs red.",10} {"ratio",6} {"recompute",9} {"steps",6} {"cache MiB",9} {"seconds",8}");
        foreach (var r in results)
            sb.AppendLine($"{r.Policy.PadRight(policyWidth)} {r.Task.PadRight(taskWidth)} {Percent(r.Accuracy),6} {Percent(r.Agreement),6} {r.TokensPerSecond,8:F1} {r.Speedup,7:F2}x " +
                          $"{r.FlopsReduction,9:F2}x {r.Speedup / r.FlopsReduction,6:F2} {r.RecomputeFraction,9:P1} {r.Steps,6:F1} {r.PeakCacheMiB,9:F1} {r.Seconds,8:F1}");
        return sb.ToString();
    }

    public static string Markdown(IReadOnlyList<BenchResult> results)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| policy | task | accuracy | agreement | tokens/s | speedup | FLOPs reduction | speedup / FLOPs red. | rows recomputed | steps | peak cache (MiB) | seconds |");
        sb.AppendLine("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var r in results)
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Policy} | {r.Task} | {Percent(r.Accuracy)} | {Percent(r.Agreement)} | {r.TokensPerSecond:F1} | {r.Speedup:F2}x | {r.FlopsReduction:F2}x | {r.Speedup / r.FlopsReduction:F2} | {r.RecomputeFraction:P1} | {r.Steps:F1} | {r.PeakCacheMiB:F1} | {r.Seconds:F1} |"));
        return sb.ToString();
    }

    /// <summary>
    /// Accuracy (y) against speedup (x, log scale, one scale for all panels): a panel per task, one marker per
    /// policy, the threshold-decoding variants (<c>+t</c>) in a second colour, and a dashed line at none's accuracy so
    /// a policy's cost in answers reads as its distance below the line.
    /// </summary>
    public static string Svg(IReadOnlyList<BenchResult> results)
    {
        const int panelWidth = 340, height = 380, left = 56, right = 16, top = 34, bottom = 46;
        var tasks = results.Select(r => r.Task).Distinct().ToList();
        int width = tasks.Count * panelWidth;
        double maxSpeed = Math.Max(2, results.Max(r => r.Speedup) * 1.2);
        double Y(double? a) => top + (1 - (a ?? 0)) * (height - top - bottom);

        var sb = SvgDocument.Begin(width, height);
        for (int t = 0; t < tasks.Count; t++)
        {
            int x0 = t * panelWidth + left, x1 = (t + 1) * panelWidth - right;
            double X(double s) => x0 + (Math.Log(Math.Max(s, 0.5)) - Math.Log(0.5)) / (Math.Log(maxSpeed) - Math.Log(0.5)) * (x1 - x0);
            var rows = results.Where(r => r.Task == tasks[t]).ToList();
            sb.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{(x0 + x1) / 2}\" y=\"18\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">{SvgDocument.Escape(tasks[t])}</text>");
            sb.AppendLine(CultureInfo.InvariantCulture, $"<line x1=\"{x0}\" y1=\"{height - bottom}\" x2=\"{x1}\" y2=\"{height - bottom}\" stroke=\"black\"/>");
            sb.AppendLine(CultureInfo.InvariantCulture, $"<line x1=\"{x0}\" y1=\"{top}\" x2=\"{x0}\" y2=\"{height - bottom}\" stroke=\"black\"/>");
            foreach (var s in new[] { 0.5, 1, 2, 4, 8, 16, 32, 64 }.Where(s => s <= maxSpeed))
                sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"<text x=\"{X(s):F0}\" y=\"{height - bottom + 16}\" text-anchor=\"middle\">{s}x</text>"));
            foreach (var a in new[] { 0, 0.25, 0.5, 0.75, 1.0 })
                sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"<text x=\"{x0 - 6}\" y=\"{Y(a) + 4:F0}\" text-anchor=\"end\">{a:P0}</text>"));
            if (rows.FirstOrDefault(r => r.Policy == "none") is { Accuracy: double baseline })
                sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"<line x1=\"{x0}\" y1=\"{Y(baseline):F1}\" x2=\"{x1}\" y2=\"{Y(baseline):F1}\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>"));
            foreach (var r in rows)
            {
                var colour = r.Policy.Contains("+t", StringComparison.Ordinal) ? "#d62728" : "#1f77b4";
                sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                    $"<circle cx=\"{X(r.Speedup):F1}\" cy=\"{Y(r.Accuracy):F1}\" r=\"4\" fill=\"{colour}\"><title>{SvgDocument.Escape(r.Policy)} / {SvgDocument.Escape(r.Task)}: {Percent(r.Accuracy)}, {r.Speedup:F2}x</title></circle>"));
                sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                    $"<text x=\"{X(r.Speedup) + 6:F1}\" y=\"{Y(r.Accuracy) - 4:F1}\" fill=\"{colour}\" font-size=\"9\">{SvgDocument.Escape(r.Policy)}</text>"));
            }
            sb.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{(x0 + x1) / 2}\" y=\"{height - 10}\" text-anchor=\"middle\">speedup against none (log scale)</text>");
        }
        sb.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"14\" y=\"{(top + height - bottom) / 2}\" transform=\"rotate(-90 14 {(top + height - bottom) / 2})\" text-anchor=\"middle\">accuracy (exact match); dashed: none</text>");
        return SvgDocument.End(sb);
    }

    private static string Percent(double? x) => x is double v ? v.ToString("P0", CultureInfo.InvariantCulture) : "-";
}
