using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PolicyKit.Cli.Tuning;

/// <summary>What <c>policykit tune</c> prints: every setting tried, the winner as an appsettings.json snippet, a Pareto chart.</summary>
internal static class TuneReport
{
    /// <summary>
    /// The <c>PolicyKit:Policies:&lt;policy&gt;</c> section that <c>AddPolicyKit</c> binds (PolicyKitOptions.Policies):
    /// intervals and ratios as numbers, probes as text.
    /// </summary>
    public static string Snippet(string policy, Setting setting)
    {
        var values = new JsonObject();
        foreach (var (name, value) in setting.Values.OrderBy(x => x.Key, StringComparer.Ordinal))
            values[name] = double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double number)
                ? (number == Math.Floor(number) && !value.Contains('.') ? JsonValue.Create((long)number) : JsonValue.Create(number))
                : JsonValue.Create(value);
        var root = new JsonObject { ["PolicyKit"] = new JsonObject { ["Policies"] = new JsonObject { [policy] = values } } };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>The search as JSON: the baseline, every setting tried, the best (null when none is within budget) and the defaults.</summary>
    public static string Json(string policy, ParameterSearch search, double baseline, double points, bool byFlops)
    {
        object? Entry(Evaluation? e) => e is null ? null : new
        {
            setting = e.Setting.Values,
            speedup = Math.Round(e.Speedup, 4),
            flopsReduction = Math.Round(e.FlopsReduction, 4),
            accuracy = e.Accuracy,
            withinBudget = search.WithinBudget(e),
        };
        return JsonSerializer.Serialize(new
        {
            policy,
            objective = byFlops ? "flops" : "time",
            budgetPoints = points,
            noneAccuracy = baseline,
            best = Entry(search.Best),
            defaults = Entry(search.Evaluated.FirstOrDefault(e => e.Setting.Key == search.Defaults.Key)),
            evaluated = search.Evaluated.Select(Entry),
        }, new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>Settings that no other setting beats on both speed and accuracy.</summary>
    public static IReadOnlyList<Evaluation> ParetoFront(IEnumerable<Evaluation> evaluations)
    {
        var all = evaluations.ToList();
        return all.Where(e => !all.Any(o => o != e && o.Speed >= e.Speed && o.Accuracy >= e.Accuracy && (o.Speed > e.Speed || o.Accuracy > e.Accuracy)))
            .OrderBy(e => e.Speed).ToList();
    }

    public static string Summary(string policy, ParameterSearch search, double baseline, double points, bool byFlops)
    {
        var sb = new StringBuilder();
        void Line(FormattableString s) => sb.AppendLine(s.ToString(CultureInfo.InvariantCulture));
        var front = ParetoFront(search.Evaluated).ToHashSet();
        Line($"{policy}: {search.Evaluated.Count} settings tried; none's accuracy {baseline:P1}, budget {points:0.##} points (accuracy >= {Math.Max(0, baseline - points / 100):P1})");
        Line($"each setting's speedup is from the last round it ran in, interleaved with none (rounds differ in noise); pareto: best on both columns, over: outside the budget");
        Line($"{"speedup",8} {"FLOPs red.",10} {"accuracy",9}  {"",6} setting");
        foreach (var e in search.Evaluated.OrderByDescending(e => e.Speed))
        {
            string mark = !search.WithinBudget(e) ? "over" : front.Contains(e) ? "pareto" : "";
            Line($"{e.Speedup,7:F2}x {e.FlopsReduction,9:F2}x {e.Accuracy,9:P1}  {mark,-6} {e.Setting}{(e.Setting.Key == search.Defaults.Key ? "  (defaults)" : "")}");
        }
        Line($"");
        if (search.Best is not { } best)
        {
            if (search.Evaluated.Count == 0) Line($"no round finished: nothing measured yet.");
            else Line($"no setting tried keeps accuracy within {points:0.##} points of none.");
            return sb.ToString();
        }
        var defaults = search.Evaluated.FirstOrDefault(e => e.Setting.Key == search.Defaults.Key);
        Line($"best: {best.Setting}: {best.Speedup:F2}x speedup, {best.FlopsReduction:F2}x fewer FLOPs, accuracy {best.Accuracy:P1}; ranked by {(byFlops ? "FLOPs reduction" : "wall-clock speedup")}");
        if (defaults is not null)
            Line($"defaults: {defaults.Speedup:F2}x speedup, {defaults.FlopsReduction:F2}x fewer FLOPs, accuracy {defaults.Accuracy:P1} (in the last round they ran in)");
        Line($"appsettings.json:");
        sb.AppendLine(Snippet(policy, best.Setting));
        return sb.ToString();
    }

    /// <summary>Accuracy (y) against the objective (x, log scale): every setting, the Pareto front joined, the budget line, defaults and winner named.</summary>
    public static string ParetoSvg(string policy, ParameterSearch search, double baseline, double points, bool byFlops)
    {
        const int width = 720, height = 420, left = 60, right = 180, top = 30, bottom = 50;
        var all = search.Evaluated.ToList();
        double minX = Math.Min(0.9, all.Min(e => e.Speed)), maxX = Math.Max(1.1, all.Max(e => e.Speed) * 1.1);
        double minY = Math.Max(0, Math.Min(all.Min(e => e.Accuracy), baseline - points / 100) - 0.05), maxY = Math.Min(1, Math.Max(all.Max(e => e.Accuracy), baseline) + 0.05);
        if (maxY - minY < 0.1) { minY = Math.Max(0, maxY - 0.1); maxY = minY + 0.1; }
        double X(double s) => left + (Math.Log(s) - Math.Log(minX)) / (Math.Log(maxX) - Math.Log(minX)) * (width - left - right);
        double Y(double a) => top + (1 - (a - minY) / (maxY - minY)) * (height - top - bottom);
        var sb = SvgDocument.Begin(width, height);
        void Line(FormattableString s) => sb.AppendLine(s.ToString(CultureInfo.InvariantCulture));
        Line($"<text x=\"{left}\" y=\"18\" font-size=\"13\">{SvgDocument.Escape(policy)}: settings tried by policykit tune</text>");
        Line($"<line x1=\"{left}\" y1=\"{height - bottom}\" x2=\"{width - right}\" y2=\"{height - bottom}\" stroke=\"black\"/>");
        Line($"<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{height - bottom}\" stroke=\"black\"/>");
        foreach (var s in new[] { 0.5, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32 }.Where(s => s >= minX && s <= maxX))
            Line($"<text x=\"{X(s):F1}\" y=\"{height - bottom + 16}\" text-anchor=\"middle\">{s}x</text>");
        for (int i = 0; i <= 4; i++)
        {
            double a = minY + (maxY - minY) * i / 4;
            Line($"<text x=\"{left - 6}\" y=\"{Y(a) + 4:F1}\" text-anchor=\"end\">{a:P0}</text>");
        }
        Line($"<text x=\"{(left + width - right) / 2}\" y=\"{height - 10}\" text-anchor=\"middle\">{(byFlops ? "FLOPs reduction" : "wall-clock speedup")} against none (log scale)</text>");
        Line($"<text x=\"14\" y=\"{(top + height - bottom) / 2}\" transform=\"rotate(-90 14 {(top + height - bottom) / 2})\" text-anchor=\"middle\">accuracy</text>");
        double floor = baseline - points / 100;
        Line($"<line class=\"budget\" x1=\"{left}\" y1=\"{Y(Math.Max(minY, floor)):F1}\" x2=\"{width - right}\" y2=\"{Y(Math.Max(minY, floor)):F1}\" stroke=\"#d62728\" stroke-dasharray=\"5 4\"/>");
        Line($"<text x=\"{width - right + 6}\" y=\"{Y(Math.Max(minY, floor)) + 4:F1}\" fill=\"#d62728\">budget ({points:0.##} points)</text>");
        Line($"<circle cx=\"{X(1):F1}\" cy=\"{Y(baseline):F1}\" r=\"4\" fill=\"#888\"><title>none: {baseline:P1}</title></circle>");
        Line($"<text x=\"{X(1) + 6:F1}\" y=\"{Y(baseline) - 4:F1}\" fill=\"#888\">none</text>");
        var front = ParetoFront(all);
        Line($"<polyline class=\"pareto\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"{string.Join(' ', front.Select(e => string.Create(CultureInfo.InvariantCulture, $"{X(e.Speed):F1},{Y(e.Accuracy):F1}")))}\"/>");
        foreach (var e in all)
        {
            string colour = !search.WithinBudget(e) ? "#bbbbbb" : "#1f77b4";
            Line($"<circle cx=\"{X(e.Speed):F1}\" cy=\"{Y(e.Accuracy):F1}\" r=\"3.5\" fill=\"{colour}\"><title>{SvgDocument.Escape(e.Setting.Key)}: {e.Speed:F2}x, {e.Accuracy:P1}</title></circle>");
        }
        void Name(Evaluation? e, string label, string colour)
        {
            if (e is null) return;
            Line($"<circle cx=\"{X(e.Speed):F1}\" cy=\"{Y(e.Accuracy):F1}\" r=\"6\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>");
            Line($"<text x=\"{X(e.Speed) + 8:F1}\" y=\"{Y(e.Accuracy) + 14:F1}\" fill=\"{colour}\">{label}</text>");
        }
        Name(all.FirstOrDefault(e => e.Setting.Key == search.Defaults.Key), "defaults", "#ff7f0e");
        Name(search.Best, "chosen", "#2ca02c");
        return SvgDocument.End(sb);
    }
}
