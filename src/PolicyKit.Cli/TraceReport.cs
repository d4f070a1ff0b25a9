using System.Globalization;
using System.Text;

namespace PolicyKit.Cli;

/// <summary>A <see cref="PolicyTrace"/> as a text grid, a JSON object and an SVG heat map.</summary>
internal static class TraceReport
{
    /// <summary>One line naming the run: policy, model, layout, segment lengths, steps.</summary>
    public static string Title(PolicyTrace t) =>
        $"{t.Policy} on {t.Model} ({t.Layout}, {t.LayerCount} layers): prompt {t.PromptLength} tokens, " +
        $"response {t.GenLength} in {t.BlockCount} block{(t.BlockCount == 1 ? "" : "s")}, {t.Steps.Count} steps";

    /// <summary>What the policy saved overall.</summary>
    public static string Summary(PolicyTrace t) => string.Create(CultureInfo.InvariantCulture,
        $"{t.Flops.Reduction:F2}x fewer FLOPs, {t.RecomputeFraction:P1} of rows recomputed");

    /// <summary>
    /// One line per step, one character per layer: <c>.</c> nothing recomputed, <c>0</c>-<c>9</c> the recomputed
    /// share in tenths (rounded down), <c>#</c> every row. Each block starts with a line giving its response columns.
    /// </summary>
    public static string Text(PolicyTrace t)
    {
        var sb = new StringBuilder();
        sb.AppendLine(Title(t));
        sb.AppendLine(Summary(t));
        sb.AppendLine($"answer: {t.Text.ReplaceLineEndings(" ")}");
        sb.AppendLine();
        sb.AppendLine("share of rows recomputed per step (lines) and layer (columns): . none, 0-9 tenths (rounded down), # all");
        sb.AppendLine($"{"step",5}  {LayerRuler(t.LayerCount)}  recomputed");
        foreach (var step in t.Steps)
        {
            if (step.BlockStart)
                sb.AppendLine($"block {step.Block}: response tokens {step.ActiveBlockStart}..{step.ActiveBlockStart + step.ActiveBlockLength - 1}");
            var cells = string.Concat(step.Layers.Select(l => Shade(l.Recomputed)));
            double share = step.Layers.Sum(l => l.RowsRecomputed) / (double)step.Layers.Sum(l => l.Rows);
            var fired = step.Layers.FirstOrDefault(l => l.TriggerFired);
            var trigger = fired is null ? "" : $"  drift test fired at layer {fired.Layer}";
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"{step.Step,5}  {cells}  {share,9:P1}{trigger}"));
        }
        return sb.ToString();
    }

    /// <summary>The trace as one JSON-serialisable object (shares rounded to 4 decimals).</summary>
    public static object Json(PolicyTrace t) => new
    {
        policy = t.Policy,
        model = t.Model,
        layout = t.Layout.ToString(),
        layers = t.LayerCount,
        promptLength = t.PromptLength,
        genLength = t.GenLength,
        blocks = t.BlockCount,
        text = t.Text,
        flops = new { executed = t.Flops.Executed, full = t.Flops.Full, reduction = Math.Round(t.Flops.Reduction, 4) },
        recomputeFraction = Math.Round(t.RecomputeFraction, 4),
        steps = t.Steps.Select(s => new
        {
            step = s.Step,
            block = s.Block,
            stepInBlock = s.StepInBlock,
            blockStart = s.BlockStart,
            activeBlockStart = s.ActiveBlockStart,
            activeBlockLength = s.ActiveBlockLength,
            layers = s.Layers.Select(l => new
            {
                layer = l.Layer,
                recomputed = Math.Round(l.Recomputed, 4),
                reused = Math.Round(l.Reused, 4),
                dropped = Math.Round(l.Dropped, 4),
                rowsRecomputed = l.RowsRecomputed,
                rowsDropped = l.RowsDropped,
                triggerFired = l.TriggerFired,
                rows = l.Rows,
                plan = l.Plan,
            }),
        }),
    };

    /// <summary>
    /// Steps left to right, layers top (0) to bottom, one cell per (step, layer) shaded by its recomputed share
    /// on a square-root colour scale (hover: the exact share and plan); a red line before each block's first step.
    /// </summary>
    public static string HeatMap(PolicyTrace t)
    {
        int steps = Math.Max(1, t.Steps.Count), layers = Math.Max(1, t.LayerCount);
        double cellW = Math.Clamp(640.0 / steps, 3, 48), cellH = Math.Clamp(220.0 / layers, 6, 24);
        const int left = 64, top = 58, right = 130, bottom = 46;
        double gridW = cellW * steps, gridH = cellH * layers;
        int width = (int)Math.Ceiling(left + gridW + right), height = (int)Math.Ceiling(top + Math.Max(gridH, 80) + bottom);
        string F(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);

        // Wide enough for the title (about 7.5 px a character at 13 px bold) when few steps make a narrow grid.
        var sb = SvgDocument.Begin(Math.Max(width, (int)(left + Title(t).Length * 7.5)), height);
        sb.AppendLine($"<text x=\"{left}\" y=\"18\" font-size=\"13\" font-weight=\"bold\">{SvgDocument.Escape(Title(t))}</text>");
        sb.AppendLine($"<text x=\"{left}\" y=\"36\">{SvgDocument.Escape(Summary(t))}; colour = share of the layer's rows recomputed at the step</text>");

        foreach (var step in t.Steps)
            foreach (var l in step.Layers)
                sb.AppendLine(
                    $"<rect class=\"cell\" shape-rendering=\"crispEdges\" x=\"{F(left + step.Step * cellW)}\" y=\"{F(top + l.Layer * cellH)}\" width=\"{F(cellW)}\" height=\"{F(cellH)}\" fill=\"{Colour(l.Recomputed)}\">" +
                    $"<title>step {step.Step}, layer {l.Layer}: {l.Recomputed.ToString("P1", CultureInfo.InvariantCulture)} recomputed ({l.RowsRecomputed} of {l.Rows} rows, {l.RowsDropped} dropped){(l.TriggerFired ? ", drift test fired" : "")}; {SvgDocument.Escape(l.Plan)}</title></rect>");

        // Axes: layer labels on the left, step ticks below, block starts as red lines with their index above.
        int layerEvery = (int)Math.Ceiling(11 / cellH);
        for (int l = 0; l < layers; l += layerEvery)
            sb.AppendLine($"<text x=\"{left - 6}\" y=\"{F(top + (l + 0.5) * cellH + 4)}\" text-anchor=\"end\">{l}</text>");
        sb.AppendLine($"<text x=\"14\" y=\"{F(top + gridH / 2)}\" transform=\"rotate(-90 14 {F(top + gridH / 2)})\" text-anchor=\"middle\">layer</text>");
        int stepEvery = (int)Math.Ceiling(28 / cellW);
        for (int s = 0; s < steps; s += stepEvery)
            sb.AppendLine($"<text x=\"{F(left + (s + 0.5) * cellW)}\" y=\"{F(top + gridH + 14)}\" text-anchor=\"middle\">{s}</text>");
        sb.AppendLine($"<text x=\"{F(left + gridW / 2)}\" y=\"{F(top + gridH + 34)}\" text-anchor=\"middle\">denoising step</text>");
        var starts = t.Steps.Where(s => s.BlockStart).ToArray();
        for (int i = 0; i < starts.Length; i++)
        {
            double x = left + starts[i].Step * cellW;
            int blockSteps = (i + 1 < starts.Length ? starts[i + 1].Step : steps) - starts[i].Step;
            string label = blockSteps * cellW >= 40 ? $"block {starts[i].Block}" : $"{starts[i].Block}";   // short where blocks are narrow
            sb.AppendLine($"<line class=\"block-start\" x1=\"{F(x)}\" y1=\"{top - 4}\" x2=\"{F(x)}\" y2=\"{F(top + gridH)}\" stroke=\"#d62728\" stroke-width=\"1.5\"/>");
            sb.AppendLine($"<text x=\"{F(x + 2)}\" y=\"{top - 6}\" fill=\"#d62728\" font-size=\"9\">{label}</text>");
        }

        // Legend: the colour scale, labelled at shares a policy typically hits (a V-verify of a short response
        // touches a few per cent of the rows, a response refresh a tenth or so).
        double lx = left + gridW + 24, lh = Math.Max(gridH, 80);
        const int bands = 20;
        for (int i = 0; i < bands; i++)
        {
            double share = Math.Pow((i + 0.5) / bands, 2);
            sb.AppendLine($"<rect x=\"{F(lx)}\" y=\"{F(top + lh * (bands - 1 - i) / bands)}\" width=\"14\" height=\"{F(lh / bands + 0.5)}\" fill=\"{Colour(share)}\"/>");
        }
        sb.AppendLine($"<rect x=\"{F(lx)}\" y=\"{top}\" width=\"14\" height=\"{F(lh)}\" fill=\"none\" stroke=\"#888\"/>");
        foreach (var tick in new[] { 0, 0.02, 0.1, 0.25, 0.5, 1 })
        {
            double y = top + lh * (1 - Math.Sqrt(tick));
            sb.AppendLine($"<line x1=\"{F(lx + 14)}\" y1=\"{F(y)}\" x2=\"{F(lx + 18)}\" y2=\"{F(y)}\" stroke=\"#888\"/>");
            sb.AppendLine($"<text x=\"{F(lx + 21)}\" y=\"{F(y + 4)}\">{tick.ToString("P0", CultureInfo.InvariantCulture)}</text>");
        }
        sb.AppendLine($"<text x=\"{F(lx)}\" y=\"{F(top + lh + 16)}\" font-size=\"9\">recomputed</text>");
        sb.AppendLine($"<text x=\"{F(lx)}\" y=\"{F(top + lh + 27)}\" font-size=\"9\">(square-root scale)</text>");
        return SvgDocument.End(sb);
    }

    private static char Shade(double share) => share <= 0 ? '.' : share >= 1 ? '#' : (char)('0' + Math.Min(9, (int)(share * 10)));

    private static string LayerRuler(int layers) => string.Concat(Enumerable.Range(0, layers).Select(l => (char)('0' + l % 10)));

    // White (all reused) through mid blue to dark navy (all recomputed), on a square-root scale so that the few
    // per cent an adaptive rule recomputes stand apart from both nothing and a segment refresh.
    private static string Colour(double share)
    {
        (double r, double g, double b)[] stops = [(247, 251, 255), (107, 174, 214), (8, 48, 107)];
        double x = Math.Sqrt(Math.Clamp(share, 0, 1)) * (stops.Length - 1);
        int i = Math.Min((int)x, stops.Length - 2);
        double f = x - i;
        int C(double a, double b2) => (int)Math.Round(a + (b2 - a) * f);
        return $"#{C(stops[i].r, stops[i + 1].r):x2}{C(stops[i].g, stops[i + 1].g):x2}{C(stops[i].b, stops[i + 1].b):x2}";
    }
}
