using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using PolicyKit.Diffusion.Profiling;

namespace PolicyKit.Cli;

/// <summary>One policy's profile on one task (bench) or one prompt (generate).</summary>
internal sealed record ProfileEntry(string Policy, string Task, ForwardProfiler Profiler);

/// <summary>
/// <c>--profile [FILE.json]</c> of <c>bench</c> and <c>generate</c>: a compact table per policy of where a step's time and
/// native calls go (layers, LM head, the rest of the forward, the sampler) and what a layer costs by kind (full,
/// partial, from cache) and phase; optionally the same, with every layer index, as JSON.
/// </summary>
internal static class ProfileReport
{
    private static readonly LayerPhase[] Phases = Enum.GetValues<LayerPhase>();
    private static readonly string[] PhaseNames = ["select", "q/k/v", "kv-cache", "attend", "m-attn", "mlp", "m-ffn"];

    /// <summary>The option: present alone for the table, with a file name for the table and a JSON file.</summary>
    public static Option<FileInfo?> Option() => new("--profile")
    {
        Arity = ArgumentArity.ZeroOrOne,
        Description = "Profile each policy: time and native calls (TorchSharp tensors created) per step (layers, LM head, sampler) " +
                      "and per layer (full, partial, from cache; by phase). Give FILE.json to also write them as JSON.",
    };

    /// <summary>Whether the command line asked for a profile.</summary>
    public static bool Requested(ParseResult parse, Option<FileInfo?> option) => parse.GetResult(option) is not null;

    /// <summary>Prints the tables and writes the JSON file when one was named.</summary>
    public static void Emit(ParseResult parse, Option<FileInfo?> option, IReadOnlyList<ProfileEntry> entries)
    {
        Console.WriteLine(Table(entries));
        if (parse.GetValue(option) is { } file)
            File.WriteAllText(file.FullName, JsonSerializer.Serialize(new { profiles = entries.Select(Json) }, new JsonSerializerOptions { WriteIndented = true }));
    }

    public static string Table(IReadOnlyList<ProfileEntry> entries)
    {
        var sb = new StringBuilder();
        void Line(FormattableString s) => sb.AppendLine(s.ToString(CultureInfo.InvariantCulture));
        Line($"profile (native calls = TorchSharp tensors created: in-place ops and host reads are not counted; one run, wall-clock times are noisy)");
        foreach (var (policy, task, p) in entries)
        {
            int forwards = Math.Max(1, p.Forwards);
            Line($"");
            Line($"{policy} on {task}: {p.Generations} generations, {p.Forwards} steps");
            Line($"  {"per step",-16} {"ms",8} {"calls",8} {"time",6}");
            double total = p.Generation.Milliseconds;
            foreach (var (name, cost) in new[] { ("layers", p.LayersTotal), ("LM head", p.Head), ("rest of forward", p.ForwardOther), ("sampler", p.Sampler), ("total", p.Generation) })
                Line($"  {name,-16} {cost.Milliseconds / forwards,8:F2} {(double)cost.Calls / forwards,8:F0} {(total > 0 ? cost.Milliseconds / total : 0),6:P0}");
            Line($"  {"per layer",-16} {"count",8} {"ms",8} {"calls",8}   calls by phase: {string.Join(' ', PhaseNames.Select(n => n.PadLeft(8)))}");
            foreach (var (kind, totals) in p.Layers.OrderBy(x => x.Key))
            {
                var (ms, calls) = totals.Mean();
                Line($"  {KindName(kind),-16} {totals.Count,8} {ms,8:F3} {calls,8:F1}                   {string.Join(' ', Phases.Select(ph => totals.Mean(ph).Calls.ToString("F1", CultureInfo.InvariantCulture).PadLeft(8)))}");
                Line($"  {"",-16} {"",8} {"",8} {"",8}     µs by phase: {string.Join(' ', Phases.Select(ph => (totals.Mean(ph).Milliseconds * 1000).ToString("F0", CultureInfo.InvariantCulture).PadLeft(8)))}");
            }
        }
        return sb.ToString();
    }

    private static string KindName(LayerKind kind) => kind switch
    {
        LayerKind.Full => "full",
        LayerKind.Partial => "partial",
        _ => "from cache",
    };

    private static object Json(ProfileEntry entry)
    {
        var p = entry.Profiler;
        int forwards = Math.Max(1, p.Forwards);
        object PerStep(Cost c) => new { ms = Math.Round(c.Milliseconds / forwards, 4), calls = Math.Round((double)c.Calls / forwards, 2) };
        object Layer(LayerTotals t) => new
        {
            count = t.Count,
            ms = Math.Round(t.Mean().Milliseconds, 5),
            calls = Math.Round(t.Mean().Calls, 2),
            phases = Phases.ToDictionary(ph => JsonNamingPolicy.CamelCase.ConvertName(ph.ToString()),
                ph => new { ms = Math.Round(t.Mean(ph).Milliseconds, 5), calls = Math.Round(t.Mean(ph).Calls, 2) }),
        };
        return new
        {
            policy = entry.Policy,
            task = entry.Task,
            generations = p.Generations,
            steps = p.Forwards,
            perStep = new { layers = PerStep(p.LayersTotal), lmHead = PerStep(p.Head), restOfForward = PerStep(p.ForwardOther), sampler = PerStep(p.Sampler), total = PerStep(p.Generation) },
            perLayer = p.Layers.OrderBy(x => x.Key).ToDictionary(x => JsonNamingPolicy.CamelCase.ConvertName(x.Key.ToString()), x => Layer(x.Value)),
            byLayerIndex = p.LayersByIndex.OrderBy(x => x.Key).Select(x => new { layer = x.Key, cost = Layer(x.Value) }),
        };
    }
}
