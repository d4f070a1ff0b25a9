using PolicyKit.Diffusion.Generation;

namespace PolicyKit.Cli;

internal static class Report
{
    /// <summary>One line: policy, steps, tokens, time, FLOPs executed against the uncached forward.</summary>
    public static string CostLine(GenerationResult r, int tokens) =>
        $"{r.Policy}: {r.Steps} steps, {tokens} tokens, {r.Elapsed.TotalMilliseconds:F0} ms, " +
        $"{r.Flops.Executed / 1e9:F2} of {r.Flops.Full / 1e9:F2} GFLOP ({r.Flops.Reduction:F2}x fewer), " +
        $"{r.RecomputeFraction:P0} of rows recomputed";
}
